package ops

import (
	"context"
	"fmt"
	"strconv"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodestatus"
)

// RevokePasscode revokes Passcode name for good (spec.revoked: true); a passcode already revoked
// is a no-op that says so.
func RevokePasscode(ctx context.Context, c client.Client, ns, name string, dryRun DryRun) (Result, error) {
	pc, err := GetPasscode(ctx, c, ns, name)
	if err != nil {
		return Result{}, err
	}
	if pc.Spec.Revoked {
		return oneLine("passcode/%s is already revoked (no change)", pc.Name), nil
	}
	if err := ApplyPatch(ctx, c, pc, SpecPatch("revoked", true), dryRun); err != nil {
		return Result{}, fmt.Errorf("revoking passcode/%s: %w", pc.Name, err)
	}
	r := oneLine("passcode/%s revoked%s", pc.Name, dryRun.Suffix())
	r.linef("This is final: the passcode stops working at once and cannot be un-revoked; "+
		"`kubectl dashboard passcode reset %s` issues a new one.", pc.Name)
	return r, nil
}

// ListPasscodes reads the Passcodes matching opts, sorted by namespace, then name.
func ListPasscodes(ctx context.Context, c client.Client, opts ...client.ListOption) ([]accessv1alpha1.Passcode, error) {
	var list accessv1alpha1.PasscodeList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing passcodes: %w", err)
	}
	sortByNamespaceName(list.Items)
	return list.Items, nil
}

// PasscodeView is what is shown of a Passcode beyond its fields: the defaults filled in.
type PasscodeView struct {
	// Phase is the status phase, Pending before the operator reports.
	Phase    string
	Rotation accessv1alpha1.RotationPolicy
	// Secret is the Secret that holds the passcode (never read here).
	Secret string
}

// ViewPasscode fills in pc's defaults.
func ViewPasscode(pc *accessv1alpha1.Passcode) PasscodeView {
	v := PasscodeView{
		Phase:    orDefault(string(pc.Status.Phase), string(accessv1alpha1.PasscodePending)),
		Rotation: accessv1alpha1.RotationManual,
		Secret:   pc.Status.SecretName,
	}
	if pc.Spec.Rotation != nil && pc.Spec.Rotation.Policy != "" {
		v.Rotation = pc.Spec.Rotation.Policy
	}
	if v.Secret == "" {
		v.Secret = orDefault(pc.Spec.SecretName, pc.Name)
	}
	return v
}

// PasscodeStatus is the state of pc as `passcode status` shows it, field by field, in order;
// never the passcode, which lives in a Secret nothing here reads.
func PasscodeStatus(pc *accessv1alpha1.Passcode) [][2]string {
	v := ViewPasscode(pc)
	ready := "Unknown (the operator has not reported yet)"
	if cond := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady); cond != nil {
		ready = fmt.Sprintf("%s, reason %s", cond.Status, orDefault(cond.Reason, "-"))
		if cond.Message != "" {
			ready += ": " + cond.Message
		}
	}
	return [][2]string{
		{"Passcode", pc.Name},
		{"Project", pc.Namespace},
		{ColumnUser, pc.Spec.UserRef.Name},
		{"Phase", v.Phase},
		{"Revoked", strconv.FormatBool(pc.Spec.Revoked)},
		{"Tenure", pc.Spec.Tenure},
		{"Rotation", string(v.Rotation)},
		{"Issued At", orDefault(FormatTime(pc.Status.IssuedAt), "<none>")},
		{"Expires At", orDefault(FormatTime(pc.Status.ExpiresAt), "<none>")},
		{"Renewal Time", orDefault(FormatTime(pc.Status.RenewalTime), "<none>")},
		{"Revision", strconv.FormatInt(pc.Status.Revision, 10)},
		{"Last Used At", orDefault(FormatTime(pc.Status.LastUsedAt), "<never>")},
		{"Secret", v.Secret},
		{"Ready", ready},
	}
}

// orDefault is s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// RowsWithPasscodes are users as the users page shows them, with Passcode-Status computed from
// passcodes (the project's Passcodes) by passcodestatus.Summarize instead of read from the users' status.
func RowsWithPasscodes(users []accessv1alpha1.DashboardUser, passcodes []accessv1alpha1.Passcode, now time.Time) []UserRow {
	byUser := map[string][]accessv1alpha1.Passcode{}
	for _, pc := range passcodes {
		key := pc.Namespace + "/" + pc.Spec.UserRef.Name
		byUser[key] = append(byUser[key], pc)
	}
	rows := Rows(users)
	for i := range rows {
		summary, _ := passcodestatus.Summarize(now, byUser[rows[i].Project+"/"+rows[i].Object])
		rows[i].PasscodeStatus = string(summary)
	}
	return rows
}
