package lms

import (
	"strings"
	"testing"
	"time"
)

func TestNormalizePasscode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{" kx7p-m3qd ": "KX7PM3QD", "KX7P M3QD": "KX7PM3QD", "kx7p–m3qd": "KX7PM3QD"} {
		if got := NormalizePasscode(in); got != want {
			t.Errorf("NormalizePasscode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckPasscode(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"KX7P-M3QD":              "",
		"Blue-Heron-42":          "",
		"abc":                    EInvalid,
		strings.Repeat("Z9", 40): EInvalid,
		"aaaaaaaa":               EPasscodeWeak,
		"ab-ab-ab-ab":            EPasscodeWeak,
		"123456789":              EPasscodeWeak,
		"zyxwvu":                 EPasscodeWeak,
		"Password-2026":          EPasscodeWeak,
		"welcome99":              EPasscodeWeak,
		"acme-spring-9x":         EPasscodeWeak,
		"Q3-ACME-ROLLOUT":        EPasscodeWeak, // the organization's name
		"aabbaabb1":              EPasscodeWeak,
	}
	for pc, want := range cases {
		if got := ErrorCode(CheckPasscode(pc, "Q3 rollout", "Acme")); got != want {
			t.Errorf("CheckPasscode(%q) = %q, want %q", pc, got, want)
		}
	}
}

func TestGeneratePasscode(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		p, err := GeneratePasscode()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 9 || p[4] != '-' || strings.ContainsAny(p, "01ILO") || seen[p] {
			t.Fatalf("generated %q", p)
		}
		seen[p] = true
	}
}

func TestInvitationStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	cases := []struct {
		inv  Invitation
		want InvitationStatus
	}{
		{Invitation{Status: InvitationActive, MaxRegistrations: 2, RegistrationsUsed: 1}, InvitationActive},
		{Invitation{Status: InvitationActive, MaxRegistrations: 2, RegistrationsUsed: 2}, InvitationFull},
		{Invitation{Status: InvitationActive, MaxRegistrations: 2, ExpiresAt: &past}, InvitationExpired},
		{Invitation{Status: InvitationPaused, MaxRegistrations: 2, ExpiresAt: &future}, InvitationPaused},
		{Invitation{Status: InvitationRevoked, MaxRegistrations: 2, ExpiresAt: &past}, InvitationRevoked},
	}
	for _, c := range cases {
		if got := c.inv.EffectiveStatus(now); got != c.want {
			t.Errorf("%+v: %s, want %s", c.inv, got, c.want)
		}
	}
	legal := map[[2]InvitationStatus]bool{
		{InvitationDraft, InvitationActive}: true, {InvitationDraft, InvitationRevoked}: true,
		{InvitationActive, InvitationPaused}: true, {InvitationPaused, InvitationActive}: true,
		{InvitationActive, InvitationRevoked}: true, {InvitationPaused, InvitationRevoked}: true,
		{InvitationActive, InvitationActive}: true, {InvitationDraft, InvitationDraft}: true,
		{InvitationPaused, InvitationPaused}: true, {InvitationRevoked, InvitationRevoked}: true,
	}
	all := []InvitationStatus{InvitationDraft, InvitationActive, InvitationPaused, InvitationRevoked}
	for _, from := range all {
		for _, to := range all {
			if got := CanTransition(from, to); got != legal[[2]InvitationStatus{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v", from, to, got)
			}
		}
	}
}
