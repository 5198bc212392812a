package main

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

func TestFloorVerifiesTheBearerTokenAsTheServerDoes(t *testing.T) {
	secret := []byte(strings.Repeat("s", 48))
	tokens, err := auth.NewTokenIssuer(auth.TokenOptions{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	other, err := auth.NewTokenIssuer(auth.TokenOptions{Secret: []byte(strings.Repeat("o", 48))})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(iss *auth.TokenIssuer, kind, sub string) string {
		tok, _, err := iss.Issue(auth.Subject{ID: sub, Kind: kind, OrganizationID: benchID("org", 0),
			Role: string(lms.RoleFullManager), TokenVersion: 3})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	person := benchID("user", 0)
	good := issue(tokens, auth.KindUser, person)
	f := &floor{tokens: tokens}
	for _, c := range []struct {
		name, header string
		ok           bool
	}{
		{"bearer", "Bearer " + good, true},
		{"scheme in any case", "bearer " + good, true},
		{"no header", "", false},
		{"no scheme", good, false},
		{"another scheme", "Basic " + good, false},
		{"empty token", "Bearer ", false},
		{"forged signature", "Bearer " + forgedToken(good), false},
		{"another secret", "Bearer " + issue(other, auth.KindUser, person), false},
		{"a subject that is no ID", "Bearer " + issue(tokens, auth.KindUser, "manager"), false},
		{"an integration client", "Bearer " + issue(tokens, auth.KindClient, person), false},
		{"too long a header", "Bearer " + good + strings.Repeat(" ", floorMaxAuthorization), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/user-groups", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			claims, err := f.verify(r)
			switch {
			case c.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case c.ok && (claims.Subject != person || claims.TokenVersion != 3):
				t.Fatalf("claims %+v", claims)
			case !c.ok && !errors.Is(err, errFloorUnauthorized):
				t.Fatalf("got %v, want errFloorUnauthorized", err)
			}
		})
	}
}
