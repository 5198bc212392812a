package api

import (
	"bufio"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// AuditEventResponse is one change in the organization's audit log.
type AuditEventResponse struct {
	ID string `json:"id" format:"uuid"`
	// What changed, as object.verb: user_group.members.add, course.delete,
	// invitation.status.revoked…
	Action string `json:"action" example:"user_group.members.add"`
	// Who changed it: a user, an integration client, or the system (a
	// command run on the server, such as a course import).
	ActorKind string `json:"actor_kind" enums:"user,client,system"`
	// The user or integration client; null for the system.
	ActorID *string `json:"actor_id" format:"uuid" extensions:"x-nullable"`
	// The kind of object changed; for members and courses of a user group,
	// the user group.
	TargetType string `json:"target_type" enums:"organization,organization_group,user,integration_client,course,user_group,invitation,webhook_endpoint"`
	TargetID   string `json:"target_id" format:"uuid"`
	// The X-Request-ID of the request that made the change, as in the
	// server's logs; empty for a command.
	RequestID string `json:"request_id" maxLength:"128"`
	CreatedAt string `json:"created_at" format:"date-time"`
} // @name AuditEvent

func auditEventResponse(e *lms.AuditEvent) AuditEventResponse {
	var actor *string
	if e.ActorID != "" {
		actor = &e.ActorID
	}
	return AuditEventResponse{ID: e.ID, Action: e.Action, ActorKind: string(e.ActorKind), ActorID: actor,
		TargetType: e.TargetType, TargetID: e.TargetID, RequestID: e.RequestID, CreatedAt: stamp(e.CreatedAt)}
}

// AuditEventList is a page of the audit log.
type AuditEventList struct {
	Data       []AuditEventResponse `json:"data"`
	NextCursor *string              `json:"next_cursor" extensions:"x-nullable"`
} // @name AuditEventList

// listAuditEvents godoc
//
//	@Summary     The organization's audit log
//	@Description Full Managers only (403 insufficient_role for everyone else). Every change made in the caller's organization, newest first unless sort says otherwise, each recorded in the transaction of the change: organization groups, users and integration clients created, updated or deleted (a user's status change is user.status.active or user.status.disabled); courses created, updated, deleted or imported (course.import, by the system, on the organization); user groups created, updated or deleted, and their courses and members added or removed (user_group.courses.add, user_group.members.remove…, on the user group; an addition that adds nothing already there is not recorded); invitations created, updated, deleted, sent (invitation.send) or changed in status (invitation.status.active…). The filters combine: action, actor_id and target_id match exactly, since includes its instant and until does not. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for. With Accept: text/csv, every matching event in one attachment (header row created_at, action, actor_kind, actor_id, target_type, target_id, request_id, every cell quoted and guarded against spreadsheet formulas), in the sort's order; cursor is then ignored, and limit too, though it must still be a number from 1 to 200. An export of more than 100,000 events is refused (400): narrow it with since and until.
//	@Tags        audit
//	@Produce     json,text/csv
//	@Param       action      query    string false "only this action, e.g. user_group.members.add"
//	@Param       actor_id    query    string false "only changes by this user or integration client" format(uuid)
//	@Param       target_type query    string false "only changes of this kind of object" Enums(organization, organization_group, user, integration_client, course, user_group, invitation)
//	@Param       target_id   query    string false "only changes of this object" format(uuid)
//	@Param       since       query    string false "only changes at or after this time (RFC 3339)" format(date-time) maxlength(40)
//	@Param       until       query    string false "only changes before this time (RFC 3339), later than since" format(date-time) maxlength(40)
//	@Param       limit       query    int    false "page size (1-200, default 50); JSON only"
//	@Param       cursor      query    string false "next_cursor of the previous page; JSON only"
//	@Param       sort        query    string false "order" Enums(-created_at, created_at)
//	@Success     200         {object} AuditEventList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, an actor_id or target_id that is not a UUID, an action or target_type that is not a name of lowercase letters, digits, dots and underscores, a since or until that is not an RFC 3339 time, an until not later than since, a cursor not made for this list and sort, or a CSV export of more than 100,000 events"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reads the audit log"
//	@Security    BearerAuth
//	@ID          listAuditEvents
//	@Router      /api/v1/audit-events [get]
func (s *Server) listAuditEvents(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	f := lms.AuditEventFilter{PageRequest: p, Action: optionalString(c, "action"), ActorID: optionalString(c, "actor_id"),
		TargetType: optionalString(c, "target_type"), TargetID: optionalString(c, "target_id")}
	for _, bound := range []struct {
		name string
		at   **time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v, ok := c.GetQuery(bound.name); ok {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				abortWith(c, lms.EBadRequest, "%s must be an RFC 3339 time, such as 2026-07-01T00:00:00Z", bound.name)
				return
			}
			*bound.at = &at
		}
	}
	ctx := c.Request.Context()
	if c.NegotiateFormat(gin.MIMEJSON, "text/csv") != "text/csv" {
		page, err := s.Services.Audit.FindAuditEvents(ctx, f)
		if err != nil {
			writeError(c, err)
			return
		}
		writePage(c, page, auditEventResponse)
		return
	}
	// CSV: walk every page first, so that an error is still a problem
	// document rather than a truncated file.
	f.Limit, f.Cursor = lms.MaxPageLimit, ""
	var all []*lms.AuditEvent
	for {
		page, err := s.Services.Audit.FindAuditEvents(ctx, f)
		if err != nil {
			writeError(c, err)
			return
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		// Unlike an invitation's seats the log has no bound of its own;
		// a file cut short would pass for the whole log.
		if len(all) >= maxCSVRows {
			abortWith(c, lms.EBadRequest, "more than %d events match; narrow the export with since and until", maxCSVRows)
			return
		}
		f.Cursor = page.NextCursor
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="audit-events.csv"`)
	c.Status(http.StatusOK)
	b := bufio.NewWriter(c.Writer)
	writeCSVRow(b, "created_at", "action", "actor_kind", "actor_id", "target_type", "target_id", "request_id")
	for _, e := range all {
		writeCSVRow(b, stamp(e.CreatedAt.UTC()), e.Action, string(e.ActorKind), e.ActorID, e.TargetType, e.TargetID, e.RequestID)
	}
	b.Flush()
}
