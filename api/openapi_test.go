package api_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOperationsAreNamedAndTagged holds the document to what client
// generators read: every operation has a unique camelCase operationId, a
// summary, a description, examples of every body and 2xx answer, and tags
// the document defines with a description; bearer JWTs
// and the client credentials grant are OpenAPI 3 schemes; public
// operations say they need no credentials.
func TestOperationsAreNamedAndTagged(t *testing.T) {
	t.Parallel()
	doc, _ := loadSpec(t)
	defined := map[string]bool{}
	for _, tag := range doc.Tags {
		if tag.Description == "" {
			t.Errorf("tag %q has no description", tag.Name)
		}
		defined[tag.Name] = true
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]+$`)
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			switch {
			case !camel.MatchString(op.OperationID):
				t.Errorf("%s: operationId %q is not camelCase", where, op.OperationID)
			case seen[op.OperationID] != "":
				t.Errorf("%s: operationId %q is %s's too", where, op.OperationID, seen[op.OperationID])
			}
			seen[op.OperationID] = where
			if op.Description == "" {
				t.Errorf("%s: no description", where)
			}
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					if mt.Example == nil {
						t.Errorf("%s: no example of its %s body", where, ct)
					}
				}
			}
			for status, r := range op.Responses.Map() {
				for ct, mt := range r.Value.Content {
					if strings.HasPrefix(status, "2") && mt.Example == nil {
						t.Errorf("%s: no example of its %s %s answer", where, status, ct)
					}
				}
			}
			if op.Summary == "" {
				t.Errorf("%s: no summary", where)
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s: no tag", where)
			}
			for _, tag := range op.Tags {
				if !defined[tag] {
					t.Errorf("%s: tag %q is not defined", where, tag)
				}
			}
			if op.Security == nil {
				t.Errorf("%s: no security requirement, not even an empty one", where)
			} else if n := len(*op.Security); n != 0 && n != 2 {
				t.Errorf("%s: %d security alternatives, want none (public) or bearer and client credentials", where, n)
			}
		}
	}
	for id, want := range map[string]bool{"createInvitation": true, "redeemPasscode": true, "listUserGroupCourses": true} {
		if _, ok := seen[id]; ok != want {
			t.Errorf("no operation %s", id)
		}
	}
	bearer, oauth := doc.Components.SecuritySchemes["BearerAuth"], doc.Components.SecuritySchemes["ClientCredentials"]
	if bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" || bearer.Value.BearerFormat != "JWT" {
		t.Errorf("BearerAuth is not an http bearer JWT scheme: %+v", bearer)
	}
	if oauth == nil || oauth.Value.Type != "oauth2" || oauth.Value.Flows.ClientCredentials == nil ||
		oauth.Value.Flows.ClientCredentials.TokenURL != "/api/v1/oauth/token" {
		t.Errorf("ClientCredentials is not the client credentials grant: %+v", oauth)
	}
	if login := doc.Paths.Find("/auth/login"); login == nil || login.Post.Security == nil || len(*login.Post.Security) != 0 ||
		!slices.Contains(login.Post.Tags, "auth") {
		t.Error("login is not a public operation tagged auth")
	}
}

// servedPath is where the server answers a path of the document: under the
// path's own server if it has one, else under the document's.
func servedPath(doc *openapi3.T, path string, item *openapi3.PathItem) string {
	servers := doc.Servers
	if len(item.Servers) > 0 {
		servers = item.Servers
	}
	return strings.TrimSuffix(servers[0].URL, "/") + path
}

func TestAPIPathsAreRelativeToTheServer(t *testing.T) {
	t.Parallel()
	doc, _ := loadSpec(t)
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("servers = %+v, want the one API base /api/v1", doc.Servers)
	}
	for path, item := range doc.Paths.Map() {
		if strings.HasPrefix(path, "/api/") {
			t.Errorf("%s repeats the server's base", path)
		}
		if len(item.Servers) > 0 && !strings.HasPrefix(path, "/enroll") && !slices.Contains([]string{"/healthz", "/readyz", "/openapi.json"}, path) {
			t.Errorf("%s is outside the API base", path)
		}
	}
}
