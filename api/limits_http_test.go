package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
)

// limitCase sends a request whose field sits at a limit the document states,
// then one past it.
type limitCase struct {
	method, path string
	schema       string // the request body's schema; "" for a query parameter
	field        string
	body         func(e *env) map[string]any
	// lookup: the field is a credential the server looks up, so a value past
	// the limit is refused as unknown (401 or 404), not as invalid.
	lookup bool
}

// TestDocumentedLimitsAreEnforced holds the document's limits and the
// server's validation to the same numbers: every limit a request schema or
// query parameter states has a case here, one past it is refused naming the
// field, and the limit itself is not refused for its size.
func TestDocumentedLimitsAreEnforced(t *testing.T) {
	t.Parallel()
	doc, _ := loadSpec(t)
	e := newEnv(t, "sqlite")
	invitation := func(e *env) map[string]any { return e.newInvitationBody("", 5) }
	course := func(*env) map[string]any { return map[string]any{"name": "Limits " + uuid.NewString()} }
	person := func(*env) map[string]any {
		return map[string]any{"email": uuid.NewString() + "@limits.example", "first_name": "Lena", "last_name": "Limit",
			"password": "Limits-are-documented-1", "role": "learner", "organization_group_id": e.org.OrganizationGroupID}
	}
	group := func(*env) map[string]any {
		return map[string]any{"name": "Limits " + uuid.NewString(), "organization_group_id": e.org.OrganizationGroupID}
	}
	inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("", 5)}).JSON(t)
	redeem := func(*env) map[string]any {
		return map[string]any{"passcode": inv["passcode"], "email": uuid.NewString() + "@limits.example",
			"first_name": "Rita", "last_name": "Redeem", "password": "Limits-are-documented-2"}
	}
	crs := e.do(req{method: "POST", path: "/api/v1/courses", token: e.tokens["full"], body: course(e)}).JSON(t)
	usr := e.do(req{method: "POST", path: "/api/v1/users", token: e.tokens["full"], body: person(e)}).JSON(t)
	ug := e.do(req{method: "POST", path: "/api/v1/user-groups", token: e.tokens["full"], body: group(e)}).JSON(t)
	hook := func(*env) map[string]any {
		return map[string]any{"url": "http://127.0.0.1:9/hooks", "event_types": []string{"user.created"}}
	}
	wh := e.do(req{method: "POST", path: "/api/v1/webhook-endpoints", token: e.tokens["full"], body: hook(e)}).JSON(t)
	cases := []limitCase{
		{"POST", "/api/v1/invitations", "CreateInvitationRequest", "name", invitation, false},
		{"POST", "/api/v1/invitations", "CreateInvitationRequest", "message", invitation, false},
		{"POST", "/api/v1/invitations", "CreateInvitationRequest", "passcode", invitation, false},
		{"POST", "/api/v1/invitations", "CreateInvitationRequest", "max_registrations", invitation, false},
		{"POST", "/api/v1/invitations", "CreateInvitationRequest", "user_group_ids", invitation, false},
		{"POST", "/api/v1/invitations", "CreateInvitationRequest", "allowed_email_domains", invitation, false},
		{"PATCH", "/api/v1/invitations/" + inv["id"].(string), "UpdateInvitationRequest", "name", nil, false},
		{"PATCH", "/api/v1/invitations/" + inv["id"].(string), "UpdateInvitationRequest", "message", nil, false},
		{"PATCH", "/api/v1/invitations/" + inv["id"].(string), "UpdateInvitationRequest", "passcode", nil, false},
		{"PATCH", "/api/v1/invitations/" + inv["id"].(string), "UpdateInvitationRequest", "max_registrations", nil, false},
		{"PATCH", "/api/v1/invitations/" + inv["id"].(string), "UpdateInvitationRequest", "user_group_ids", nil, false},
		{"PATCH", "/api/v1/invitations/" + inv["id"].(string), "UpdateInvitationRequest", "allowed_email_domains", nil, false},
		{"POST", "/api/v1/invitations/" + inv["id"].(string) + "/deliveries", "CreateDeliveriesRequest", "recipients", nil, false},
		{"POST", "/api/v1/courses", "CreateCourseRequest", "name", nil, false},
		{"POST", "/api/v1/courses", "CreateCourseRequest", "code", course, false},
		{"POST", "/api/v1/courses", "CreateCourseRequest", "description", course, false},
		{"POST", "/api/v1/user-groups", "CreateUserGroupRequest", "name", group, false},
		{"POST", "/api/v1/user-groups", "CreateUserGroupRequest", "description", group, false},
		{"PATCH", "/api/v1/user-groups/" + ug["id"].(string), "UpdateUserGroupRequest", "name", nil, false},
		{"PATCH", "/api/v1/user-groups/" + ug["id"].(string), "UpdateUserGroupRequest", "description", nil, false},
		{"POST", "/api/v1/user-groups/" + ug["id"].(string) + "/courses", "AddUserGroupCoursesRequest", "course_ids", nil, false},
		{"POST", "/api/v1/user-groups/" + ug["id"].(string) + "/members", "AddUserGroupMembersRequest", "user_ids", nil, false},
		{"POST", "/api/v1/organization-groups", "CreateOrganizationGroupRequest", "name", nil, false},
		{"POST", "/api/v1/integration-clients", "CreateIntegrationClientRequest", "name", func(*env) map[string]any {
			return map[string]any{"role": "full_manager"}
		}, false},
		{"POST", "/api/v1/users", "CreateUserRequest", "email", person, false},
		{"POST", "/api/v1/users", "CreateUserRequest", "first_name", person, false},
		{"POST", "/api/v1/users", "CreateUserRequest", "last_name", person, false},
		{"POST", "/api/v1/users", "CreateUserRequest", "password", person, false},
		{"POST", "/api/v1/redemptions", "RedeemRequest", "email", redeem, false},
		{"POST", "/api/v1/redemptions", "RedeemRequest", "first_name", redeem, false},
		{"POST", "/api/v1/redemptions", "RedeemRequest", "last_name", redeem, false},
		{"POST", "/api/v1/redemptions", "RedeemRequest", "password", redeem, false},
		{"POST", "/api/v1/redemptions", "RedeemRequest", "passcode", redeem, true},
		{"POST", "/api/v1/redemptions/preview", "PasscodeRequest", "passcode", nil, true},
		{"POST", "/api/v1/redemptions/verify", "VerifyRequest", "token", func(*env) map[string]any {
			return map[string]any{"password": "Limits-are-documented-3"}
		}, true},
		{"POST", "/api/v1/redemptions/verify", "VerifyRequest", "password", func(*env) map[string]any {
			return map[string]any{"token": "no-such-token"}
		}, true},
		{"POST", "/api/v1/auth/login", "LoginRequest", "email", func(*env) map[string]any {
			return map[string]any{"password": "Limits-are-documented-4"}
		}, true},
		{"POST", "/api/v1/auth/login", "LoginRequest", "password", func(e *env) map[string]any {
			return map[string]any{"email": e.org.ManagerEmail}
		}, true},
		{"POST", "/api/v1/auth/refresh", "RefreshRequest", "refresh_token", nil, true},
		{"POST", "/api/v1/oauth/token", "ClientCredentialsRequest", "client_secret", func(*env) map[string]any {
			return map[string]any{"grant_type": "client_credentials", "client_id": uuid.NewString()}
		}, true},
		{"POST", "/api/v1/oauth/token", "ClientCredentialsRequest", "scope", func(*env) map[string]any {
			return map[string]any{"grant_type": "client_credentials", "client_id": uuid.NewString(), "client_secret": "no-such-secret"}
		}, true},
		{"PATCH", "/api/v1/courses/" + crs["id"].(string), "UpdateCourseRequest", "name", nil, false},
		{"PATCH", "/api/v1/courses/" + crs["id"].(string), "UpdateCourseRequest", "code", nil, false},
		{"PATCH", "/api/v1/courses/" + crs["id"].(string), "UpdateCourseRequest", "description", nil, false},
		{"PATCH", "/api/v1/organization-groups/" + e.org.OrganizationGroupID, "UpdateOrganizationGroupRequest", "name", nil, false},
		{"PATCH", "/api/v1/users/" + usr["id"].(string), "UpdateUserRequest", "first_name", nil, false},
		{"PATCH", "/api/v1/users/" + usr["id"].(string), "UpdateUserRequest", "last_name", nil, false},
		{"PATCH", "/api/v1/users/" + usr["id"].(string), "UpdateUserRequest", "password", nil, false},
		{"POST", "/api/v1/webhook-endpoints", "CreateWebhookEndpointRequest", "url", hook, false},
		{"POST", "/api/v1/webhook-endpoints", "CreateWebhookEndpointRequest", "event_types", hook, false},
		{"POST", "/api/v1/webhook-endpoints", "CreateWebhookEndpointRequest", "description", hook, false},
		{"PATCH", "/api/v1/webhook-endpoints/" + wh["id"].(string), "UpdateWebhookEndpointRequest", "url", nil, false},
		{"PATCH", "/api/v1/webhook-endpoints/" + wh["id"].(string), "UpdateWebhookEndpointRequest", "event_types", nil, false},
		{"PATCH", "/api/v1/webhook-endpoints/" + wh["id"].(string), "UpdateWebhookEndpointRequest", "description", nil, false},
		{"GET", "/api/v1/courses", "", "q", nil, false},
		{"GET", "/api/v1/courses", "", "limit", nil, false},
		{"GET", "/api/v1/courses", "", "cursor", nil, false},
	}
	covered := map[string]bool{}
	for i, c := range cases {
		covered[c.schema+"."+c.field] = true
		t.Run(fmt.Sprintf("%s %s %s", c.method, c.schema, c.field), func(t *testing.T) {
			if c.schema == "" {
				checkParameterLimit(t, e, doc, c, i)
				return
			}
			s := doc.Components.Schemas[c.schema].Value.Properties[c.field].Value
			at, past := valuesAround(t, s, c.field)
			send := func(v any, n int) *response {
				body := map[string]any{}
				if c.body != nil {
					body = c.body(e)
				}
				body[c.field] = v
				return e.do(req{method: c.method, path: c.path, token: e.tokens["full"], body: body,
					remote: fmt.Sprintf("198.51.%d.%d:1234", i, n)})
			}
			if c.lookup {
				if res := send(past, 1); res.Status < 400 || res.Status >= 500 {
					t.Fatalf("past the limit: %d %s", res.Status, res.Body)
				}
				return
			}
			refused := wantProblem(t, send(past, 1), http.StatusUnprocessableEntity, "validation_failed")
			why := fieldMessage(refused, c.field)
			if why == "" {
				t.Fatalf("past the limit: no error names %s: %v", c.field, refused)
			}
			if res := send(at, 2); res.Status == http.StatusUnprocessableEntity && fieldMessage(res.JSON(t), c.field) == why {
				t.Errorf("at the limit refused as past it: %s", why)
			}
			if below, ok := valueBelow(s, c.field); ok {
				if short := wantProblem(t, send(below, 3), http.StatusUnprocessableEntity, "validation_failed"); fieldMessage(short, c.field) == "" {
					t.Errorf("below the lower limit: no error names %s: %v", c.field, short)
				}
			}
		})
	}
	for name, ref := range doc.Components.Schemas {
		if !strings.HasSuffix(name, "Request") {
			continue
		}
		for prop, p := range ref.Value.Properties {
			v := p.Value
			if v.Format == "uuid" {
				continue // a UUID's length, which its parsing holds to
			}
			if (v.MaxLength != nil || v.MaxItems != nil || v.Max != nil) && !covered[name+"."+prop] {
				t.Errorf("%s.%s states a limit that no case checks", name, prop)
			}
		}
	}
}

// valuesAround returns a value of s's type at its upper limit and one past it.
func valuesAround(t *testing.T, s *openapi3.Schema, field string) (at, past any) {
	t.Helper()
	switch {
	case s.Type.Is("string") && s.MaxLength != nil:
		n := int(*s.MaxLength)
		return sized(field, n), sized(field, n+1)
	case s.Type.Is("integer") && s.Max != nil:
		return int(*s.Max), int(*s.Max) + 1
	case s.Type.Is("array") && s.MaxItems != nil:
		n := int(*s.MaxItems)
		item := func(i int) any {
			switch {
			case len(s.Items.Value.Enum) > 0:
				return s.Items.Value.Enum[i%len(s.Items.Value.Enum)]
			case s.Items.Value.Format == "uuid":
				return uuid.NewString()
			case s.Items.Value.Format == "email":
				return fmt.Sprintf("person%d@limits.example", i)
			default:
				return fmt.Sprintf("site%d.limits.example", i)
			}
		}
		var items []any
		for i := range n + 1 {
			items = append(items, item(i))
		}
		return items[:n], items
	}
	t.Fatalf("%s: no upper limit stated", field)
	return nil, nil
}

// valueBelow returns a value just under s's lower limit, if it has one.
func valueBelow(s *openapi3.Schema, field string) (any, bool) {
	switch {
	case s.Type.Is("string") && s.MinLength > 0:
		if field == "passcode" {
			return "K7QXM", true
		}
		return sized(field, int(s.MinLength)-1), true
	case s.Type.Is("integer") && s.Min != nil && *s.Min > 0:
		return int(*s.Min) - 1, true
	case s.Type.Is("array") && s.MinItems > 0:
		items := make([]any, 0, s.MinItems-1)
		for range int(s.MinItems) - 1 {
			items = append(items, uuid.NewString())
		}
		return items, true
	}
	return nil, false
}

// sized returns a valid value of field of exactly n characters.
func sized(field string, n int) string {
	switch field {
	case "email":
		const at = "@limits.example"
		return strings.Repeat("e", n-len(at)) + at
	case "passcode":
		// 60 characters that count, the rest dashes, which do not.
		const counted = "K7QXM3PD9HTWV2RNB8FJC4GL6SZY5A" + "Q9WD3RT7KPXM2VB6HJN4CF8GLS5Z3A"
		return counted + strings.Repeat("-", n-len(counted))
	case "password":
		return strings.Repeat("Pw9!", n/4) + strings.Repeat("x", n%4)
	case "url":
		// A receiver on this machine, which development allows.
		const base = "http://127.0.0.1:9/hooks?pad="
		if n < len(base) {
			return strings.Repeat("u", n)
		}
		return base + strings.Repeat("p", n-len(base))
	}
	return strings.Repeat("x", n)
}

func fieldMessage(problem map[string]any, field string) string {
	errs, _ := problem["errors"].([]any)
	for _, e := range errs {
		if m, _ := e.(map[string]any); m["field"] == field {
			return m["message"].(string)
		}
	}
	return ""
}

func checkParameterLimit(t *testing.T, e *env, doc *openapi3.T, c limitCase, i int) {
	op := doc.Paths.Find(strings.TrimPrefix(c.path, "/api/v1")).GetOperation(c.method)
	p := op.Parameters.GetByInAndName("query", c.field)
	if p == nil {
		t.Fatalf("%s %s has no parameter %s", c.method, c.path, c.field)
	}
	at, past := valuesAround(t, p.Schema.Value, c.field)
	get := func(v any) *response {
		return e.do(req{method: c.method, path: fmt.Sprintf("%s?%s=%v", c.path, c.field, v), token: e.tokens["full"]})
	}
	refused := wantProblem(t, get(past), http.StatusBadRequest, "bad_request")
	if !strings.Contains(refused["detail"].(string), c.field) {
		t.Errorf("past the limit: %v does not name %s", refused["detail"], c.field)
	}
	if res := get(at); res.Status == http.StatusBadRequest && slices.Contains([]string{"q", "limit"}, c.field) {
		t.Errorf("at the limit refused: %s", res.Body)
	}
	if below, ok := valueBelow(p.Schema.Value, c.field); ok {
		wantProblem(t, get(below), http.StatusBadRequest, "bad_request")
	}
}
