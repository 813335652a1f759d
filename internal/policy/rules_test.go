package policy

import (
	"slices"
	"testing"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func TestEmailDomainAllowed(t *testing.T) {
	allowed := []string{"example.com", "*.corp.example.org"}
	for _, tc := range []struct {
		domain string
		want   bool
	}{
		{"example.com", true},
		{"eu.example.com", false}, // exact unless listed as *.
		{"corp.example.org", false},
		{"eu.corp.example.org", true},
		{"a.b.corp.example.org", true},
		{"xcorp.example.org", false}, // a suffix, not a subdomain
		{"example.com.evil.io", false},
		{"", false},
	} {
		if got := EmailDomainAllowed(allowed, tc.domain); got != tc.want {
			t.Errorf("EmailDomainAllowed(%q) = %v, want %v", tc.domain, got, tc.want)
		}
	}
	if !EmailDomainAllowed(nil, "anything.io") {
		t.Error("an empty list must allow any domain")
	}
}

func TestUserViolationsNamesTheFieldAndTheDomains(t *testing.T) {
	spec := &accessv1alpha1.DashboardPolicySpec{Invites: &accessv1alpha1.InvitePolicy{AllowedEmailDomains: []string{"example.com", "*.example.com"}}}
	if v := UserViolations("team-a", spec, "jane@eu.example.com"); v != nil {
		t.Errorf("jane@eu.example.com: %v, want none", v)
	}
	v := UserViolations("team-a", spec, "bob@elsewhere.io")
	want := "spec.email: the domain elsewhere.io is not allowed by DashboardPolicy team-a/default: " +
		"spec.invites.allowedEmailDomains allows example.com, *.example.com (*.example.com means its subdomains only)"
	if len(v) != 1 || v[0].Rule != RuleAllowedEmailDomains || v[0].Message != want {
		t.Errorf("bob@elsewhere.io: %+v, want %q", v, want)
	}
	if v := UserViolations("team-a", &accessv1alpha1.DashboardPolicySpec{}, "bob@elsewhere.io"); v != nil {
		t.Errorf("no invites section: %v, want none", v)
	}
}

func TestPasscodeViolations(t *testing.T) {
	strict := &accessv1alpha1.DashboardPolicySpec{Passcodes: &accessv1alpha1.PasscodePolicy{MaxTenure: "90d", RequireAutomaticRotation: true, MaxGracePeriod: "1h"}}
	auto := func(grace string) *accessv1alpha1.RotationSpec {
		return &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: grace}
	}
	for _, tc := range []struct {
		name  string
		spec  *accessv1alpha1.DashboardPolicySpec
		pc    accessv1alpha1.PasscodeSpec
		rules []string
	}{
		{"compliant", strict, accessv1alpha1.PasscodeSpec{Tenure: "90d", Rotation: auto("1h")}, nil},
		{"2160h is 90d: compared in minutes", strict, accessv1alpha1.PasscodeSpec{Tenure: "2160h", Rotation: auto("60m")}, nil},
		{"tenure", strict, accessv1alpha1.PasscodeSpec{Tenure: "91d", Rotation: auto("")}, []string{RuleMaxTenure}},
		{"no rotation means Manual", strict, accessv1alpha1.PasscodeSpec{Tenure: "30d"}, []string{RuleRequireAutomaticRotation}},
		{"grace", strict, accessv1alpha1.PasscodeSpec{Tenure: "30d", Rotation: auto("2h")}, []string{RuleMaxGracePeriod}},
		{"all three", strict, accessv1alpha1.PasscodeSpec{Tenure: "365d", Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationManual, GracePeriod: "24h"}},
			[]string{RuleMaxTenure, RuleRequireAutomaticRotation, RuleMaxGracePeriod}},
		{"no passcodes section", &accessv1alpha1.DashboardPolicySpec{}, accessv1alpha1.PasscodeSpec{Tenure: "365d"}, nil},
		{"maxGracePeriod 0m: absent grace is 0m", &accessv1alpha1.DashboardPolicySpec{Passcodes: &accessv1alpha1.PasscodePolicy{MaxGracePeriod: "0m"}},
			accessv1alpha1.PasscodeSpec{Tenure: "30d"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := PasscodeViolations("team-a", tc.spec, &tc.pc)
			rules := make([]string, 0, len(vs))
			for _, v := range vs {
				rules = append(rules, v.Rule)
			}
			if !slices.Equal(rules, tc.rules) {
				t.Errorf("rules = %v, want %v", rules, tc.rules)
			}
		})
	}
	v := PasscodeViolations("team-a", strict, &accessv1alpha1.PasscodeSpec{Tenure: "91d", Rotation: auto("2h")})
	for i, want := range []string{
		"spec.tenure: 91d is longer than DashboardPolicy team-a/default allows: spec.passcodes.maxTenure is 90d",
		"spec.rotation.gracePeriod: 2h is longer than DashboardPolicy team-a/default allows: spec.passcodes.maxGracePeriod is 1h",
	} {
		if v[i].Message != want {
			t.Errorf("message %d = %q, want %q (the admission policy's)", i, v[i].Message, want)
		}
	}
}
