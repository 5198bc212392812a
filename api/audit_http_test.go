package api_test

import (
	"encoding/csv"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// auditActions returns the actions of a page of the audit log, in order.
func auditActions(t *testing.T, res *response) []string {
	t.Helper()
	if res.Status != 200 {
		t.Fatalf("status = %d: %s", res.Status, res.Body)
	}
	var actions []string
	for _, item := range res.JSON(t)["data"].([]any) {
		actions = append(actions, item.(map[string]any)["action"].(string))
	}
	return actions
}

func TestAuditEventsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	full := e.tokens["full"]
	// A request ID a client chose, which a spreadsheet would read as a
	// formula unless the export guards it.
	const reqID = "-1-1-1-1:cmd"
	g := e.do(req{method: "POST", path: "/api/v1/user-groups", token: full, header: map[string]string{"X-Request-ID": reqID},
		body: map[string]string{"name": "Audited team", "organization_group_id": e.org.OrganizationGroupID}})
	if g.Status != 201 {
		t.Fatalf("create user group: %d %s", g.Status, g.Body)
	}
	groupID := g.JSON(t)["id"].(string)
	if res := e.do(req{method: "DELETE", path: "/api/v1/user-groups/" + groupID, token: full}); res.Status != 204 {
		t.Fatalf("delete user group: %d %s", res.Status, res.Body)
	}
	// The environment made two users before: the limited manager and the
	// learner.
	if got, want := auditActions(t, e.do(req{method: "GET", path: "/api/v1/audit-events", token: full})),
		[]string{"user_group.delete", "user_group.create", "user.create", "user.create"}; !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}

	t.Run("an event as JSON", func(t *testing.T) {
		res := e.do(req{method: "GET", path: "/api/v1/audit-events?action=user_group.create&target_type=user_group&target_id=" + groupID, token: full})
		data := res.JSON(t)["data"].([]any)
		if len(data) != 1 {
			t.Fatalf("events = %s", res.Body)
		}
		ev := data[0].(map[string]any)
		if ev["actor_kind"] != "user" || ev["actor_id"] != e.org.ManagerID || ev["target_id"] != groupID || ev["request_id"] != reqID {
			t.Fatalf("event = %v", ev)
		}
	})

	t.Run("pages", func(t *testing.T) {
		res := e.do(req{method: "GET", path: "/api/v1/audit-events?limit=1&actor_id=" + e.org.ManagerID, token: full})
		body := res.JSON(t)
		if len(body["data"].([]any)) != 1 || body["next_cursor"] == nil || !strings.Contains(res.Header.Get("Link"), `rel="next"`) {
			t.Fatalf("first page = %s, Link %q", res.Body, res.Header.Get("Link"))
		}
		next := e.do(req{method: "GET", path: "/api/v1/audit-events?limit=1&actor_id=" + e.org.ManagerID +
			"&cursor=" + url.QueryEscape(body["next_cursor"].(string)), token: full})
		if got := auditActions(t, next); !slices.Equal(got, []string{"user_group.create"}) {
			t.Fatalf("second page = %v", got)
		}
	})

	t.Run("a time window", func(t *testing.T) {
		since := url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
		until := url.QueryEscape(time.Now().Add(-time.Minute).Format(time.RFC3339))
		if got := auditActions(t, e.do(req{method: "GET", path: "/api/v1/audit-events?since=" + since + "&until=" + until, token: full})); len(got) != 0 {
			t.Fatalf("events of the past hour but the last minute = %v", got)
		}
		if got := auditActions(t, e.do(req{method: "GET", path: "/api/v1/audit-events?sort=created_at&since=" + since, token: full})); len(got) != 4 || got[3] != "user_group.delete" {
			t.Fatalf("events of the past hour, oldest first = %v", got)
		}
	})

	t.Run("CSV", func(t *testing.T) {
		res := e.do(req{method: "GET", path: "/api/v1/audit-events?sort=created_at", token: full, header: map[string]string{"Accept": "text/csv"}})
		if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("CSV answer %d %v", res.Status, res.Header)
		}
		body := string(res.Body)
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(rows) != 5 {
			t.Fatalf("CSV = %q, %v", body, err)
		}
		if want := []string{"created_at", "action", "actor_kind", "actor_id", "target_type", "target_id", "request_id"}; !slices.Equal(rows[0], want) {
			t.Fatalf("header = %v", rows[0])
		}
		if r := rows[3]; r[1] != "user_group.create" || r[3] != e.org.ManagerID || r[5] != groupID || r[6] != "'"+reqID {
			t.Fatalf("user group's row = %v", r)
		}
		for _, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
			if !strings.HasPrefix(line, `"`) || !strings.HasSuffix(line, `"`) || strings.Count(line, `","`) != 6 {
				t.Errorf("a record with a field not quoted: %s", line)
			}
		}
	})

	t.Run("another organization's log", func(t *testing.T) {
		if got := auditActions(t, e.do(req{method: "GET", path: "/api/v1/audit-events", token: e.tokens["other"]})); len(got) != 0 {
			t.Fatalf("the other organization reads %v", got)
		}
	})

	for _, tc := range []struct {
		name, path, token, accept string
		wantStatus                int
		wantCode                  string
	}{
		{"a limited manager", "/api/v1/audit-events", e.tokens["limited"], "", 403, lms.EInsufficientRole},
		{"a limited manager, CSV", "/api/v1/audit-events", e.tokens["limited"], "text/csv", 403, lms.EInsufficientRole},
		{"a learner", "/api/v1/audit-events", e.tokens["learner"], "", 403, lms.EInsufficientRole},
		{"no token", "/api/v1/audit-events", "", "", 401, lms.EUnauthorized},
		{"since not RFC 3339", "/api/v1/audit-events?since=yesterday", full, "", 400, lms.EBadRequest},
		{"until without a zone", "/api/v1/audit-events?until=2026-07-01T00:00:00", full, "", 400, lms.EBadRequest},
		{"until not after since", "/api/v1/audit-events?since=2026-07-01T00:00:00Z&until=2026-07-01T00:00:00Z", full, "", 400, lms.EBadRequest},
		{"actor_id not a UUID", "/api/v1/audit-events?actor_id=nope", full, "", 400, lms.EBadRequest},
		{"action not a name", "/api/v1/audit-events?action=DROP%20TABLE", full, "", 400, lms.EBadRequest},
		{"unknown sort", "/api/v1/audit-events?sort=action", full, "", 400, lms.EBadRequest},
		{"limit too large", "/api/v1/audit-events?limit=201", full, "", 400, lms.EBadRequest},
		{"a bad filter, CSV", "/api/v1/audit-events?since=yesterday", full, "text/csv", 400, lms.EBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{}
			if tc.accept != "" {
				header["Accept"] = tc.accept
			}
			wantProblem(t, e.do(req{method: "GET", path: tc.path, token: tc.token, header: header}), tc.wantStatus, tc.wantCode)
		})
	}
}
