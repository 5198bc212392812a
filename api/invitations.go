package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// InvitationResponse is an invitation as its Full Managers see it,
// passcode included.
type InvitationResponse struct {
	ID                     string   `json:"id" format:"uuid"`
	Name                   string   `json:"name" example:"Q3 onboarding"`
	Passcode               string   `json:"passcode" example:"KX7P-M3QD"`
	MaxRegistrations       int      `json:"max_registrations" example:"25"`
	RegistrationsUsed      int      `json:"registrations_used" example:"3"`
	RegistrationsRemaining int      `json:"registrations_remaining" example:"22"`
	OrganizationGroupID    string   `json:"organization_group_id" format:"uuid"`
	UserGroupIDs           []string `json:"user_group_ids"`
	Message                string   `json:"message"`
	// draft, active, paused and revoked are set by managers; expired and
	// full are derived from expires_at and the seats.
	Status    string  `json:"status" enums:"draft,active,paused,revoked,expired,full"`
	ExpiresAt *string `json:"expires_at" format:"date-time" extensions:"x-nullable"`
	// Whether a redemption that makes a new account waits, as
	// pending_verification, until the address is verified by the emailed link.
	RequireEmailVerification bool `json:"require_email_verification" example:"true"`
	// The only email domains that may redeem; empty: all.
	AllowedEmailDomains []string `json:"allowed_email_domains" example:"example.com"`
	// The frontend's enrollment page with the passcode prefilled.
	EnrollURL string  `json:"enroll_url" example:"https://learn.example.com/enroll?passcode=KX7P-M3QD"`
	CreatedBy *string `json:"created_by" format:"uuid" extensions:"x-nullable"`
	CreatedAt string  `json:"created_at" format:"date-time"`
	UpdatedAt string  `json:"updated_at" format:"date-time"`
} // @name Invitation

func invitationResponse(inv *lms.Invitation) InvitationResponse {
	r := InvitationResponse{ID: inv.ID, Name: inv.Name, Passcode: inv.Passcode, MaxRegistrations: inv.MaxRegistrations,
		RegistrationsUsed: inv.RegistrationsUsed, RegistrationsRemaining: inv.RegistrationsRemaining(),
		OrganizationGroupID: inv.OrganizationGroupID, UserGroupIDs: inv.UserGroupIDs, Message: inv.Message,
		Status: string(inv.EffectiveStatus(time.Now())), ExpiresAt: stampPtr(inv.ExpiresAt), EnrollURL: inv.EnrollURL,
		RequireEmailVerification: inv.RequireEmailVerification, AllowedEmailDomains: inv.AllowedEmailDomains,
		CreatedAt: stamp(inv.CreatedAt), UpdatedAt: stamp(inv.UpdatedAt)}
	if inv.CreatedBy != "" {
		r.CreatedBy = &inv.CreatedBy
	}
	return r
}

// InvitationList is a page of invitations.
type InvitationList struct {
	Data       []InvitationResponse `json:"data"`
	NextCursor *string              `json:"next_cursor" extensions:"x-nullable"`
} // @name InvitationList

// CreateInvitationRequest creates an invitation, as a draft for a wizard or
// active in one call.
type CreateInvitationRequest struct {
	Name string `json:"name" example:"Q3 onboarding"`
	// Optional: generated as XXXX-XXXX from an unambiguous alphabet.
	Passcode            string     `json:"passcode,omitempty" example:"Blue-Heron-42"`
	MaxRegistrations    int        `json:"max_registrations" example:"25"`
	OrganizationGroupID string     `json:"organization_group_id" format:"uuid"`
	UserGroupIDs        []string   `json:"user_group_ids"`
	Message             string     `json:"message,omitempty"`
	ExpiresAt           *time.Time `json:"expires_at,omitempty" format:"date-time"`
	// draft (default) or active.
	Status string `json:"status,omitempty" enums:"draft,active"`
	// Default true: a redemption that makes a new account takes its seat as
	// pending and the account is made when the emailed link is opened. Turn
	// it off only where the people redeeming are known to own their
	// addresses (a kiosk in a supervised room).
	RequireEmailVerification *bool `json:"require_email_verification,omitempty" example:"true"`
	// Only addresses at these domains may redeem (at most 50; a subdomain is
	// not its parent). Default: any.
	AllowedEmailDomains []string `json:"allowed_email_domains,omitempty" example:"example.com"`
} // @name CreateInvitationRequest

// UpdateInvitationRequest changes an invitation; absent fields stay as they
// are, and "expires_at": null removes the expiry.
type UpdateInvitationRequest struct {
	Name             *string      `json:"name,omitempty"`
	Passcode         *string      `json:"passcode,omitempty"`
	MaxRegistrations *int         `json:"max_registrations,omitempty"`
	UserGroupIDs     *[]string    `json:"user_group_ids,omitempty"`
	Message          *string      `json:"message,omitempty"`
	ExpiresAt        optionalTime `json:"expires_at,omitempty" swaggertype:"string" format:"date-time" extensions:"x-nullable"`
	Status           *string      `json:"status,omitempty" enums:"draft,active,paused,revoked"`
	// Redemptions already pending stay pending: their links were sent.
	RequireEmailVerification *bool `json:"require_email_verification,omitempty"`
	// [] allows every domain again.
	AllowedEmailDomains *[]string `json:"allowed_email_domains,omitempty"`
} // @name UpdateInvitationRequest

// optionalTime tells an absent time from an explicit null.
type optionalTime struct {
	Set   bool
	Value *time.Time
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *optionalTime) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// listInvitations godoc
//
//	@Summary     Invitations of the organization
//	@Description Full Managers only (403 insufficient_role for everyone else, reads included). The invitations of the caller's organization, passcodes included, newest first unless sort says otherwise. status filters by the status shown: active leaves out expired and full ones, and expired is every invitation past its expiry that is not revoked. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        invitations
//	@Produce     json
//	@Param       status query    string false "only this status" Enums(draft, active, paused, revoked, expired, full)
//	@Param       q      query    string false "case-insensitive substring of the name"
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(-created_at, created_at, name)
//	@Success     200    {object} InvitationList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown status or sort, a q longer than 200 characters or with control characters, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Security    BearerAuth
//	@ID          listInvitations
//	@Router  /api/v1/invitations [get]
func (s *Server) listInvitations(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	f := lms.InvitationFilter{PageRequest: p, Q: c.Query("q")}
	if st := optionalString(c, "status"); st != nil {
		status := lms.InvitationStatus(*st)
		f.Status = &status
	}
	page, err := s.Services.Invitations.FindInvitations(c.Request.Context(), f)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, invitationResponse)
}

// createInvitation godoc
//
//	@Summary     Create an invitation
//	@Description Full Managers only. Creates the invitation as a draft (its passcode leads nowhere yet) unless status is active, verifying the addresses of new accounts unless require_email_verification is false; every user group must belong to organization_group_id (422 otherwise), and the answer, with a Location header, carries the passcode and the enroll_url the invitation email links to. An omitted passcode is generated as XXXX-XXXX; a chosen one is 6 to 64 characters ignoring case, spaces and dashes, refused when easy to guess (422 passcode_weak), and must not be held by another invitation of any organization (409 conflict on passcode: revoking or deleting an invitation frees its passcode at once, expiry frees it at once within the organization and 90 days later for other organizations). A manager whose chosen passcodes keep being refused as taken is throttled (429 after 10 refusals in a row, then one more every 6 minutes), other managers of the organization are not.
//	@Tags        invitations
//	@Accept      json
//	@Produce     json
//	@Param       body body     CreateInvitationRequest true "the invitation"
//	@Success     201  {object} InvitationResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     409 {object} Problem "conflict: the passcode is held by another invitation (errors names passcode)"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed (a missing or invalid field, an unknown organization group, a user group outside it, an expiry in the past) or passcode_weak"
//	@Failure     429 {object} Problem "rate_limited: too many of this caller's chosen passcodes were refused as taken"
//	@Header      429 {integer} Retry-After "seconds to wait before trying again"
//	@Security    BearerAuth
//	@ID          createInvitation
//	@Router      /api/v1/invitations [post]
func (s *Server) createInvitation(c *gin.Context) {
	var req CreateInvitationRequest
	if !bindJSON(c, &req) {
		return
	}
	s.guarded(c, s.passcodeConflictGuard(c, req.Passcode != ""), func() error {
		inv, err := s.Services.Invitations.CreateInvitation(c.Request.Context(), lms.NewInvitation{Name: req.Name,
			Passcode: req.Passcode, MaxRegistrations: req.MaxRegistrations, OrganizationGroupID: req.OrganizationGroupID,
			UserGroupIDs: req.UserGroupIDs, Message: req.Message, ExpiresAt: req.ExpiresAt, Status: lms.InvitationStatus(req.Status),
			RequireEmailVerification: req.RequireEmailVerification, AllowedEmailDomains: req.AllowedEmailDomains})
		if err != nil {
			return err
		}
		c.Header("Location", "/api/v1/invitations/"+inv.ID)
		c.Header("Cache-Control", "no-store")
		writeJSON(c, http.StatusCreated, invitationResponse(inv))
		return nil
	})
}

// passcodeConflictGuard throttles, per manager (user or integration
// client), the invitation writes that fail because the passcode is taken:
// passcodes are unique across organizations, so without it a manager could
// probe for other tenants' passcodes. Only writes that can meet a taken
// passcode are guarded (a chosen passcode, or a new expiry, which can
// reclaim one), so a manager out of attempts can still pause, rename or
// resize invitations, and other managers of the organization are not held
// back by one who probed.
func (s *Server) passcodeConflictGuard(c *gin.Context, claims bool) []guard {
	if !claims {
		return nil
	}
	taken := func(err error) bool {
		var e *lms.Error
		return errors.As(err, &e) && e.Code == lms.EConflict && len(e.Fields) > 0 && e.Fields[0].Field == "passcode"
	}
	key := lms.OrganizationIDFromContext(c.Request.Context())
	if a := lms.ActorFromContext(c.Request.Context()); a != nil {
		key += ":" + a.ID
	}
	return []guard{{rule: s.Rules.PasscodeConflict, key: key, counts: taken}}
}

// getInvitation godoc
//
//	@Summary     An invitation
//	@Description Full Managers only. The invitation with its passcode, enroll_url and seats as they are now (registrations_used counts redemptions pending email verification too); status is the derived one, expired or full where that applies.
//	@Tags        invitations
//	@Produce     json
//	@Param       id  path     string true "invitation ID" format(uuid)
//	@Success     200 {object} InvitationResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such invitation in the caller's organization"
//	@Security    BearerAuth
//	@ID          getInvitation
//	@Router  /api/v1/invitations/{id} [get]
func (s *Server) getInvitation(c *gin.Context) {
	inv, err := s.Services.Invitations.FindInvitationByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusOK, invitationResponse(inv))
}

// updateInvitation godoc
//
//	@Summary     Change an invitation
//	@Description Full Managers only. Absent fields, and null on any field but expires_at, stay as they are; "expires_at": null removes the expiry, user_group_ids replaces the whole list (every group must belong to the invitation's organization group, else 422), "allowed_email_domains": [] allows every domain again, and require_email_verification applies to later redemptions only. Status moves draft→active, active⇄paused and draft, active or paused→revoked (final, and frees the passcode at once); setting the current status again changes nothing, any other move is 409, and a revoked invitation refuses every change (409). max_registrations may not drop below registrations_used, pending verifications included (409); a new passcode follows the rules of POST /invitations (409 when another invitation holds it, 422 passcode_weak), and while the caller is throttled for taken passcodes a request with passcode or expires_at is 429.
//	@Tags        invitations
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string                  true "invitation ID" format(uuid)
//	@Param       body body     UpdateInvitationRequest true "fields to change"
//	@Success     200  {object} InvitationResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such invitation in the caller's organization"
//	@Failure     409 {object} Problem "conflict: the invitation is revoked, the status cannot make that move, max_registrations is below registrations_used, or the passcode is held by another invitation"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed (an invalid field, a user group outside the invitation's organization group, an expiry in the past) or passcode_weak"
//	@Failure     429 {object} Problem "rate_limited: too many of this caller's passcodes were refused as taken"
//	@Header      429 {integer} Retry-After "seconds to wait before trying again"
//	@Security    BearerAuth
//	@ID          updateInvitation
//	@Router      /api/v1/invitations/{id} [patch]
func (s *Server) updateInvitation(c *gin.Context) {
	var req UpdateInvitationRequest
	if !bindJSON(c, &req) {
		return
	}
	upd := lms.InvitationUpdate{Name: req.Name, Passcode: req.Passcode, MaxRegistrations: req.MaxRegistrations,
		UserGroupIDs: req.UserGroupIDs, Message: req.Message, RequireEmailVerification: req.RequireEmailVerification,
		AllowedEmailDomains: req.AllowedEmailDomains}
	if req.ExpiresAt.Set {
		upd.ExpiresAt, upd.ClearExpiry = req.ExpiresAt.Value, req.ExpiresAt.Value == nil
	}
	if req.Status != nil {
		st := lms.InvitationStatus(*req.Status)
		upd.Status = &st
	}
	s.guarded(c, s.passcodeConflictGuard(c, upd.Passcode != nil || req.ExpiresAt.Set), func() error {
		inv, err := s.Services.Invitations.UpdateInvitation(c.Request.Context(), c.Param("id"), upd)
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		writeJSON(c, http.StatusOK, invitationResponse(inv))
		return nil
	})
}

// deleteInvitation godoc
//
//	@Summary     Delete an invitation
//	@Description Full Managers only. Deletes an invitation nobody has redeemed, with its deliveries, and frees its passcode; once a seat is taken (a pending verification included) it is 409: revoke it instead. Not idempotent: deleting it again is 404.
//	@Tags        invitations
//	@Param       id path string true "invitation ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such invitation in the caller's organization (or it was deleted already)"
//	@Failure     409 {object} Problem "conflict: the invitation has redemptions; revoke it instead"
//	@Security    BearerAuth
//	@ID          deleteInvitation
//	@Router      /api/v1/invitations/{id} [delete]
func (s *Server) deleteInvitation(c *gin.Context) {
	if err := s.Services.Invitations.DeleteInvitation(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// EmailResponse is the rendered invitation email.
type EmailResponse struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
} // @name InvitationEmail

// getInvitationEmail godoc
//
//	@Summary     Preview the invitation email
//	@Description Full Managers only; changes nothing. Exactly what a delivery to an address without a name sends now, rendered from the invitation as stored: the manager's message, then the passcode, the enrollment link, the courses of each user group and the expiry. A delivery whose first name is known (from a CSV file) opens with "Hello" and that name, and is otherwise the same.
//	@Tags        invitations
//	@Produce     json
//	@Param       id  path     string true "invitation ID" format(uuid)
//	@Success     200 {object} EmailResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such invitation in the caller's organization"
//	@Security    BearerAuth
//	@ID          getInvitationEmail
//	@Router      /api/v1/invitations/{id}/email [get]
func (s *Server) getInvitationEmail(c *gin.Context) {
	e, err := s.Services.Deliveries.InvitationEmail(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusOK, EmailResponse{Subject: e.Subject, Text: e.Text, HTML: e.HTML})
}

// DeliveryResponse is one invitation email to one address.
type DeliveryResponse struct {
	ID        string `json:"id" format:"uuid"`
	Recipient string `json:"recipient" example:"new.hire@example.com"`
	// The recipient's names, when the send gave them (a CSV file with
	// first_name and last_name columns); the email greets them by the
	// first. null when not known.
	FirstName *string `json:"first_name" example:"Priya" extensions:"x-nullable"`
	LastName  *string `json:"last_name" example:"Nair" extensions:"x-nullable"`
	// True for the "send me a copy" email to the sending manager.
	Copy      bool    `json:"copy"`
	Status    string  `json:"status" enums:"queued,sending,sent,failed,unknown"`
	Attempts  int     `json:"attempts"`
	LastError *string `json:"last_error" extensions:"x-nullable"`
	// When the email is due to go out: an organization's emails leave at
	// its pace (ENROLLKIT_MAIL_ORG_RATE a second), after those it queued
	// before.
	ScheduledAt string  `json:"scheduled_at" format:"date-time"`
	CreatedAt   string  `json:"created_at" format:"date-time"`
	UpdatedAt   string  `json:"updated_at" format:"date-time"`
	SentAt      *string `json:"sent_at" format:"date-time" extensions:"x-nullable"`
} // @name Delivery

func deliveryResponse(d *lms.Delivery) DeliveryResponse {
	r := DeliveryResponse{ID: d.ID, Recipient: d.Recipient, Copy: d.Copy, Status: string(d.Status), Attempts: d.Attempts,
		ScheduledAt: stamp(d.ScheduledAt), CreatedAt: stamp(d.CreatedAt), UpdatedAt: stamp(d.UpdatedAt), SentAt: stampPtr(d.SentAt)}
	if d.LastError != "" {
		r.LastError = &d.LastError
	}
	if d.FirstName != "" {
		r.FirstName = &d.FirstName
	}
	if d.LastName != "" {
		r.LastName = &d.LastName
	}
	return r
}

// DeliveryList is a page of deliveries.
type DeliveryList struct {
	Data       []DeliveryResponse `json:"data"`
	NextCursor *string            `json:"next_cursor" extensions:"x-nullable"`
} // @name DeliveryList

// CreateDeliveriesRequest sends the invitation email.
type CreateDeliveriesRequest struct {
	// Mail a copy to the manager who sends, to forward it.
	SendCopy bool `json:"send_copy,omitempty"`
	// Up to 1000 addresses, de-duplicated case-insensitively.
	Recipients []string `json:"recipients,omitempty"`
} // @name CreateDeliveriesRequest

// DeliveriesAccepted lists the queued deliveries and, for a CSV file, the
// rows that were not queued.
type DeliveriesAccepted struct {
	Data []DeliveryResponse `json:"data"`
	// The rows of a CSV file that were not queued, in line order: an
	// address that is not one, a name that is not valid, or an address on
	// an earlier row. Always empty for JSON, where one bad address refuses
	// the whole send.
	Rejected []RejectedRecipient `json:"rejected"`
} // @name DeliveriesAccepted

// RejectedRecipient is a row of a CSV recipient file that was not queued.
type RejectedRecipient struct {
	// The row's line in the file (the header is line 1).
	Line int `json:"line" example:"7"`
	// The row's email cell, trimmed, as written.
	Email  string `json:"email" example:"jordan.ellis@northwind"`
	Reason string `json:"reason" example:"email must be an email address"`
} // @name RejectedRecipient

// createDeliveries godoc
//
//	@Summary     Send the invitation email
//	@Description Full Managers only. Queues one delivery per address (the manager's copy first; send_copy needs a person's token, not an integration client's) as durable jobs written with the rows, then answers 202; a draft or paused invitation may be sent, a revoked or expired one is 409. A worker sends each through SMTP with retries and exponential backoff; follow them at GET /invitations/{id}/deliveries. An organization's emails are paced, ENROLLKIT_MAIL_ORG_RATE a second (default 10), each scheduled after those it queued before (scheduled_at), so that one organization's thousands of emails never hold another's back; and counted, at most ENROLLKIT_MAIL_ORG_HOURLY in any hour (default 1000) and ENROLLKIT_MAIL_ORG_DAILY in any day (default 5000): a send that would pass either is refused whole with 429 and Retry-After, the seconds until it fits (422 when it could never fit). The body is JSON, up to 1000 addresses, one bad address refusing the whole send (422); or, with Content-Type: text/csv, a file of up to 10,000 rows whose header row names an email column and optionally first_name and last_name (any order, case-insensitive). The file is read whole first: one that is not CSV (bad quoting, a row with more or fewer fields than the header), has no row after its header, has no email column or another column, or has more than 10,000 rows is 422 and sends nothing. Of a file that reads, the rows whose email is not an address, whose names are not valid names, or whose address is on an earlier row (case-insensitively) are listed in rejected with their lines, and the others are queued in one transaction, each greeted by its first_name when the file gives one; a file whose every row is rejected is 422. A file of 10,000 rows of usual length (about 100 bytes a row) fits the default body limit of 1 MiB.
//	@Tags        invitations
//	@Accept      json,text/csv
//	@Produce     json
//	@Param       id   path     string                  true "invitation ID" format(uuid)
//	@Param       body body     CreateDeliveriesRequest true "who receives it: JSON, or a CSV file with a header row (email,first_name,last_name)"
//	@Success     202  {object} DeliveriesAccepted
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such invitation in the caller's organization"
//	@Failure     409 {object} Problem "conflict: the invitation is revoked or expired"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json or text/csv"
//	@Failure     422 {object} Problem "validation_failed: no recipient and no send_copy, an address that is not an email, more than 1000 addresses or more than the quota could ever take, or send_copy from an integration client; for a CSV file, one that cannot be read (not CSV, no email column, an unknown column, no rows or more than 10,000) or whose every row is rejected"
//	@Failure     429 {object} Problem "rate_limited: these emails would pass the organization's hourly or daily quota"
//	@Header      429 {integer} Retry-After "seconds until the organization's quota has room for these emails"
//	@Security    BearerAuth
//	@ID          createDeliveries
//	@Router      /api/v1/invitations/{id}/deliveries [post]
func (s *Server) createDeliveries(c *gin.Context) {
	if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err == nil && mt == "text/csv" {
		s.createRecipientDeliveries(c)
		return
	}
	var req CreateDeliveriesRequest
	if !bindJSON(c, &req) {
		return
	}
	ds, err := s.Services.Deliveries.CreateDeliveries(c.Request.Context(), c.Param("id"), req.SendCopy, req.Recipients)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, deliveriesAccepted(ds, nil))
}

// createRecipientDeliveries is createDeliveries for a CSV file.
func (s *Server) createRecipientDeliveries(c *gin.Context) {
	rows, err := lms.ReadRecipientCSV(c.Request.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(c, lms.Errorf(lms.ETooLarge, "the body is larger than %d bytes; split the file", tooLarge.Limit))
		return
	case err != nil && lms.ErrorCode(err) == lms.EInternal:
		writeError(c, lms.Errorf(lms.EBadRequest, "the body could not be read"))
		return
	case err != nil:
		writeError(c, err)
		return
	}
	sent, err := s.Services.Deliveries.CreateRecipientDeliveries(c.Request.Context(), c.Param("id"), rows)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, deliveriesAccepted(sent.Deliveries, sent.Rejected))
}

func deliveriesAccepted(ds []*lms.Delivery, rejected []lms.RecipientRejection) DeliveriesAccepted {
	out := DeliveriesAccepted{Data: make([]DeliveryResponse, len(ds)), Rejected: make([]RejectedRecipient, len(rejected))}
	for i, d := range ds {
		out.Data[i] = deliveryResponse(d)
	}
	for i, r := range rejected {
		out.Rejected[i] = RejectedRecipient(r)
	}
	return out
}

// resendDelivery godoc
//
//	@Summary     Send a delivery again
//	@Description Full Managers only. Queues the delivery's email again with a new job, to the same address with the same names: for an email that failed, whose outcome is unknown, or that was sent and lost by the recipient. The delivery goes back to queued, last_error and sent_at are cleared and attempts goes on counting; it is paced and counted against the organization's quota like a send of one email (429 with Retry-After when the hour's or day's quota is spent). 409 while the delivery is queued or sending (it is on its way), and when the invitation is revoked or expired. The email is rendered when it is sent, from the invitation as it is then.
//	@Tags        invitations
//	@Produce     json
//	@Param       id  path     string true "delivery ID" format(uuid)
//	@Success     202 {object} DeliveryResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such delivery in the caller's organization"
//	@Failure     409 {object} Problem "conflict: the delivery is queued or sending, or the invitation is revoked or expired"
//	@Failure     429 {object} Problem "rate_limited: one more email would pass the organization's hourly or daily quota"
//	@Header      429 {integer} Retry-After "seconds until the organization's quota has room for one more email"
//	@Security    BearerAuth
//	@ID          resendDelivery
//	@Router      /api/v1/deliveries/{id}/resend [post]
func (s *Server) resendDelivery(c *gin.Context) {
	d, err := s.Services.Deliveries.ResendDelivery(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, deliveryResponse(d))
}

// listDeliveries godoc
//
//	@Summary     Deliveries of the invitation email
//	@Description Full Managers only. Every email sent for the invitation, one per address and send, oldest first by default, with its status (queued; sending while the mail server has it; sent; failed; unknown when the mail server took the message but did not confirm it, or an attempt was interrupted, so it may or may not have arrived and is not sent again), attempts, last_error and when it is scheduled to go out. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        invitations
//	@Produce     json
//	@Param       id     path     string true  "invitation ID" format(uuid)
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(created_at, -created_at)
//	@Success     200    {object} DeliveryList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such invitation in the caller's organization"
//	@Security    BearerAuth
//	@ID          listDeliveries
//	@Router  /api/v1/invitations/{id}/deliveries [get]
func (s *Server) listDeliveries(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.Deliveries.FindDeliveries(c.Request.Context(), c.Param("id"), p)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, deliveryResponse)
}
