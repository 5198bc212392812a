package store

import (
	"errors"

	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// redeemNewInOneStatement is a new person's redemption on PostgreSQL in a
// single statement: the seat, the account, the redemption, the group
// memberships, the enrollments and the refresh token, returning what the
// learner is told. Each step selects from the one before, starting with
// the seat, so without a seat nothing is written; the seat UPDATE rechecks
// its conditions on the latest row version after waiting for a concurrent
// redemption's lock, so seats are never given twice. Done step by step, as
// on SQLite, the same work is fourteen round trips and twice the database
// CPU, which competes with password hashing for the same cores.
func (s *Redemptions) redeemNewInOneStatement(tx *gorm.DB, inv *invitation, u *user, red *redemption, rt *refreshToken) (*lms.Redemption, error) {
	type row struct {
		Kind        string
		ID          string
		CourseID    *string
		UserGroupID *string
		Name        string
		Code        *string
	}
	var rows []row
	err := tx.Raw(`WITH seat AS (
		`+takeSeatSQL+`
		RETURNING id
	), u AS (
		INSERT INTO users (id, organization_id, organization_group_id, email, first_name, last_name, search,
			role, status, password_hash, token_version, email_skeleton, created_at, updated_at)
		SELECT @user, @org, @org_group, @email, @first_name, @last_name, @search,
			@role, @status, @password_hash, @token_version, @skeleton, @now, @now FROM seat
		RETURNING id
	), r AS (
		INSERT INTO redemptions (id, invitation_id, organization_id, user_id, email, client_ip, user_agent, created_at)
		SELECT @redemption, @inv, @org, u.id, @email, @client_ip, @user_agent, @now FROM u
	), m AS (
		INSERT INTO user_group_members (user_group_id, user_id, created_at)
		SELECT iug.user_group_id, u.id, @now FROM u, invitation_user_groups iug WHERE iug.invitation_id = @inv
		ON CONFLICT (user_group_id, user_id) DO NOTHING
	), e AS (
		`+enrollSQL(s.newIDSQL(), `@org, u.id, gc.course_id, gc.user_group_id, @inv, @now
		FROM u, user_group_courses gc JOIN invitation_user_groups iug ON iug.user_group_id = gc.user_group_id
		WHERE iug.invitation_id = @inv`)+`
		RETURNING id, course_id, user_group_id
	), t AS (
		INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, created_at)
		SELECT @token, @family, u.id, @token_hash, @token_expires, @now FROM u
	)
	SELECT 'u' AS kind, u.id, NULL::uuid AS course_id, NULL::uuid AS user_group_id, '' AS name, NULL AS code, '' AS name_key FROM u
	UNION ALL
	SELECT 'e', e.id, e.course_id, e.user_group_id, c.name, c.code, c.name_key FROM e JOIN courses c ON c.id = e.course_id
	UNION ALL
	SELECT 'g', g.id, NULL, NULL, g.name, NULL, g.name_key
	FROM u, invitation_user_groups iug JOIN user_groups g ON g.id = iug.user_group_id WHERE iug.invitation_id = @inv
	ORDER BY kind, name_key, id`, map[string]any{
		"inv": inv.ID, "now": red.CreatedAt, "org": inv.OrganizationID, "org_group": u.OrganizationGroupID,
		"user": u.ID, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName, "search": u.Search,
		"role": u.Role, "status": u.Status, "password_hash": u.PasswordHash, "token_version": u.TokenVersion,
		"skeleton":   lms.EmailSkeleton(u.Email),
		"redemption": red.ID, "client_ip": red.ClientIP, "user_agent": red.UserAgent,
		"token": rt.ID, "family": rt.FamilyID, "token_hash": rt.TokenHash, "token_expires": rt.ExpiresAt,
	}).Scan(&rows).Error
	if t, ok := tx.Dialector.(gorm.ErrorTranslator); ok && err != nil {
		// Raw(...).Scan returns the driver's error untranslated (a unique
		// violation arrives as a *pgconn.PgError, not ErrDuplicatedKey).
		err = t.Translate(err)
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// The same person registered concurrently (a replay of this very
		// request): the retry finds the account and the redemption.
		return nil, errRaced
	} else if err != nil {
		return nil, err
	}
	out := &lms.Redemption{ID: red.ID, InvitationID: inv.ID, User: u.domain(), CreatedAt: red.CreatedAt,
		UserGroups: []lms.GroupRef{}, Enrollments: []*lms.Enrollment{}}
	seated := false
	for _, r := range rows {
		switch r.Kind {
		case "u":
			seated = true
		case "g":
			out.UserGroups = append(out.UserGroups, lms.GroupRef{ID: r.ID, Name: r.Name})
		case "e":
			e := enrollment{ID: r.ID, OrganizationID: inv.OrganizationID, UserID: u.ID, CourseID: *r.CourseID,
				UserGroupID: r.UserGroupID, CreatedAt: red.CreatedAt, CourseName: r.Name, CourseCode: r.Code}
			out.Enrollments = append(out.Enrollments, e.domain())
		}
	}
	if !seated {
		// A copy of this very request may have taken the last seat while
		// this one waited for the invitation's row: then the person exists
		// now (seen by this new statement's snapshot, not by the one
		// above), and the retry answers as a replay, not as "full".
		var accounts int64
		err := tx.Table("users").Where("organization_id = ? AND email = ?", inv.OrganizationID, u.Email).Count(&accounts).Error
		if err != nil {
			return nil, err
		}
		if accounts > 0 {
			return nil, errRaced
		}
		return nil, noSeat(tx, inv.ID, red.CreatedAt)
	}
	return out, nil
}
