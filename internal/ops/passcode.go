package ops

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
)

// DefaultPasscodeSuffix makes the default Passcode name of a user: <user>-api.
const DefaultPasscodeSuffix = "-api"

// PasscodeRequest is a passcode grant (or import) as the plugin's flags and the page's form give
// it; problems are named after the flags (--tenure, --grace...), in the page as in the CLI.
type PasscodeRequest struct {
	Tenure, Rotation, RenewBefore, Grace, Name, SecretName string
	// FromSecret (passcode import) names the Secret whose passcode key becomes revision 1.
	FromSecret string
}

// Spec validates the request as the CRD would (every bad field named, as a UsageError) and returns
// the Passcode spec without the user reference.
func (o *PasscodeRequest) Spec() (accessv1alpha1.PasscodeSpec, error) {
	var problems []string
	spec := accessv1alpha1.PasscodeSpec{Tenure: o.Tenure, SecretName: o.SecretName}
	tenure, err := duration.Tenure(o.Tenure)
	switch {
	case o.Tenure == "":
		problems = append(problems, "--tenure is required: how long the passcode is valid once issued, e.g. 30d, 12h or 45m")
	case err != nil:
		problems = append(problems, "invalid --tenure: "+err.Error())
	}
	if o.Rotation != "" || o.RenewBefore != "" || o.Grace != "" {
		spec.Rotation = &accessv1alpha1.RotationSpec{RenewBefore: o.RenewBefore, GracePeriod: o.Grace}
	}
	switch accessv1alpha1.RotationPolicy(o.Rotation) {
	case "":
	case accessv1alpha1.RotationManual, accessv1alpha1.RotationAutomatic:
		spec.Rotation.Policy = accessv1alpha1.RotationPolicy(o.Rotation)
	default:
		problems = append(problems, fmt.Sprintf("invalid --rotation %q: must be Manual or Automatic", o.Rotation))
	}
	if o.RenewBefore != "" && err == nil && o.Tenure != "" {
		if _, err := duration.RenewBefore(o.RenewBefore, tenure); err != nil {
			problems = append(problems, "invalid --renew-before: "+err.Error())
		}
	} else if o.RenewBefore != "" {
		if _, err := duration.Parse(o.RenewBefore); err != nil {
			problems = append(problems, "invalid --renew-before: "+err.Error())
		}
	}
	if _, err := duration.GracePeriod(o.Grace); err != nil {
		if _, perr := duration.Parse(o.Grace); perr == nil {
			// In range of the grammar, out of bounds: say it as the CRD does.
			err = fmt.Errorf("%q must be at most 24h", o.Grace)
		}
		problems = append(problems, "invalid --grace: "+err.Error())
	}
	if o.FromSecret != "" {
		spec.Import = &accessv1alpha1.PasscodeImport{SecretRef: accessv1alpha1.LocalSecretReference{Name: o.FromSecret}}
	}
	problems = append(problems, o.nameProblems()...)
	if len(problems) > 0 {
		return spec, usageErrorf("%s", strings.Join(problems, "\n  "))
	}
	return spec, nil
}

// nameProblems checks the fields that name objects.
func (o *PasscodeRequest) nameProblems() []string {
	var problems []string
	for _, f := range [][2]string{{"--name", o.Name}, {"--secret-name", o.SecretName}, {"--from-secret", o.FromSecret}} {
		if f[1] == "" {
			continue
		}
		if errs := validation.IsDNS1123Subdomain(f[1]); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("invalid %s %q: %s", f[0], f[1], errs[0]))
		}
	}
	return problems
}

// GrantPasscode creates a Passcode for the user ref with spec (from PasscodeRequest.Spec).
func GrantPasscode(ctx context.Context, c client.Client, ns, ref string, req *PasscodeRequest, spec accessv1alpha1.PasscodeSpec,
	dryRun DryRun) (Result, error) {
	u, err := GetUser(ctx, c, ns, ref)
	if err != nil {
		return Result{}, err
	}
	name := req.Name
	if name == "" {
		name = u.Name + DefaultPasscodeSuffix
	}
	existing := &accessv1alpha1.Passcode{}
	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, existing)
	switch {
	case err == nil:
		return Result{}, alreadyExists(name, ns, existing)
	case !apierrors.IsNotFound(err):
		return Result{}, fmt.Errorf("reading passcode %q: %w", name, err)
	}
	if req.FromSecret != "" {
		if err := sourceSecretExists(ctx, c, ns, req.FromSecret); err != nil {
			return Result{}, err
		}
	}
	spec.UserRef = accessv1alpha1.UserReference{Name: u.Name}
	if err := CheckPasscodePolicy(ctx, c, ns, &spec); err != nil {
		return Result{}, err
	}
	pc := &accessv1alpha1.Passcode{
		TypeMeta: metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "Passcode"},
		// The owner reference the operator would add (deleting the user deletes its Passcodes),
		// set here because the user's UID is known: it saves the operator that write.
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardUser", Name: u.Name, UID: u.UID,
		}}},
		Spec: spec,
	}
	if dryRun != DryRunClient {
		if err := c.Create(ctx, pc, dryRun.createOptions()...); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return Result{}, alreadyExists(name, ns, nil)
			}
			return Result{}, fmt.Errorf("creating passcode %q: %w", name, err)
		}
	}
	secret := spec.SecretName
	if secret == "" {
		secret = name
	}
	rotation := accessv1alpha1.RotationManual
	if spec.Rotation != nil && spec.Rotation.Policy != "" {
		rotation = spec.Rotation.Policy
	}
	imported := ""
	if req.FromSecret != "" {
		imported = ", importing the passcode of secret/" + req.FromSecret
	}
	r := oneLine("passcode/%s created for dashboarduser/%s (%s): tenure %s, rotation %s, secret/%s%s%s",
		name, u.Name, u.Spec.Email, spec.Tenure, rotation, secret, imported, dryRun.Suffix())
	if u.Spec.Access == accessv1alpha1.AccessRevoked {
		r.warnf("Warning: the access of %s is Revoked: no passcode is issued until `kubectl dashboard users grant %s`.", u.Spec.Email, u.Name)
	}
	return r, nil
}

// sourceSecretExists checks that the Secret to import from is there, reading its metadata only:
// nothing here ever fetches a passcode. Without permission to read Secrets it says nothing and
// the operator reports a missing Secret on the Passcode.
func sourceSecretExists(ctx context.Context, c client.Client, ns, name string) error {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, meta)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("invalid --from-secret: secret %q does not exist in project (namespace) %q", name, ns)
	}
	return nil
}

// alreadyExists is the error of granting a Passcode whose name is taken.
func alreadyExists(name, ns string, pc *accessv1alpha1.Passcode) error {
	owner := ""
	if pc != nil {
		owner = fmt.Sprintf(" (for dashboarduser/%s)", pc.Spec.UserRef.Name)
	}
	return fmt.Errorf("passcode %q already exists in project (namespace) %q%s: use `kubectl dashboard passcode reset %s` for a fresh passcode, "+
		"or --name for another one", name, ns, owner, name)
}

// ResetPasscode asks the operator for a fresh passcode for Passcode name now; immediate ends the
// current one at once (no grace period).
func ResetPasscode(ctx context.Context, c client.Client, ns, name string, immediate bool, dryRun DryRun) (Result, error) {
	pc, err := GetPasscode(ctx, c, ns, name)
	if err != nil {
		return Result{}, err
	}
	now := RequestTime()
	// One patch, so the operator sees the reset and its mode together.
	annotations := map[string]any{accessv1alpha1.ResetRequestedAtAnnotation: now}
	if immediate {
		annotations[accessv1alpha1.ResetImmediateAnnotation] = "true"
	} else if _, set := pc.Annotations[accessv1alpha1.ResetImmediateAnnotation]; set {
		annotations[accessv1alpha1.ResetImmediateAnnotation] = nil // a past --immediate does not stick
	}
	if err := ApplyPatch(ctx, c, pc, MergePatch(map[string]any{"metadata": map[string]any{"annotations": annotations}}), dryRun); err != nil {
		return Result{}, fmt.Errorf("requesting a reset of passcode/%s: %w", pc.Name, err)
	}
	how := "replace the current one"
	if immediate {
		how = "replace the current one, which stops working at once"
	}
	return oneLine("passcode/%s reset requested at %s: a fresh passcode and a fresh tenure %s%s", pc.Name, now, how, dryRun.Suffix()), nil
}

// UserPasscodes are the Passcodes of the user named user in ns, by name. The project's Passcodes
// are read a page at a time (nothing selects a Passcode by its user on the API server), so a
// project of 10,000 holds one page.
func UserPasscodes(ctx context.Context, c client.Client, ns, user string) ([]accessv1alpha1.Passcode, error) {
	var out []accessv1alpha1.Passcode
	err := EachPasscodePage(ctx, c, ChunkSize, func(pcs []accessv1alpha1.Passcode) error {
		for i := range pcs {
			if pcs[i].Spec.UserRef.Name == user {
				out = append(out, pcs[i])
			}
		}
		return nil
	}, client.InNamespace(ns))
	if err != nil {
		return nil, err
	}
	sortByNamespaceName(out)
	return out, nil
}
