package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
)

// pendingRedemption is a seat taken by a new account whose address is not
// verified yet. It holds what the account will be made of; the token of
// its link is kept as a hash to find it by and sealed for the email.
type pendingRedemption struct {
	ID             string
	InvitationID   string
	OrganizationID string
	Email          string
	EmailSkeleton  string
	FirstName      string
	LastName       string
	// Notice marks a row that answers an account's wrong password as if
	// the address had none (see redeemPending).
	Notice       bool
	PasswordHash string
	TokenHash    string
	TokenSealed  string
	ClientIP     string
	UserAgent    string
	ExpiresAt    time.Time
	// Resends counts the links sent after the first.
	Resends   int
	SentAt    time.Time
	CreatedAt time.Time
}

// VerificationArgs is the durable job that emails a pending redemption its
// link. TokenHash names the link: a job whose pending redemption has been
// given a newer one does nothing, since a newer job sends that.
type VerificationArgs struct {
	PendingID string `json:"pending_id"`
	TokenHash string `json:"token_hash"`
}

// Kind names the job in River.
func (VerificationArgs) Kind() string { return "verification_email" }

// ExpiryArgs is the durable job that gives back the seat of an unverified
// pending redemption once it expires; without a PendingID, it gives back
// every expired one (the periodic sweep).
type ExpiryArgs struct {
	PendingID string `json:"pending_id,omitempty"`
}

// Kind names the job in River.
func (ExpiryArgs) Kind() string { return "pending_redemption_expiry" }

// verifyURL is the frontend's page that completes a registration.
func (s *Redemptions) verifyURL(token string) string {
	return s.publicURL + "/enroll/verify?token=" + url.QueryEscape(token)
}

// checkLookAlike refuses a new account whose address looks like another
// address of the organization (an account or a pending redemption): the
// same skeleton, a different address.
func checkLookAlike(tx *gorm.DB, org, email string) error {
	sk := lms.EmailSkeleton(email)
	for _, table := range []string{"users", "pending_redemptions"} {
		var n int64
		err := tx.Table(table).Where("organization_id = ? AND email_skeleton = ? AND email <> ?", org, sk, email).
			Limit(1).Count(&n).Error
		if err != nil {
			return err
		}
		if n > 0 {
			return &lms.Error{Code: lms.EConflict, Message: "the address looks like another address of the organization",
				Fields: []lms.FieldError{{Field: "email", Message: "looks like an address already registered here; use the address you were given"}}}
		}
	}
	return nil
}

// redeemPending takes a seat for a new account as pending, or gives the
// pending redemption of the same address new names, a new password and a
// new link (lms.PendingLink.CheckResend's rule; the seat's
// expiry stays the first link's), and queues the email and the seat's
// expiry, in one transaction.
//
// With notice, the address has an account and the password given is not
// its own: the redeemer is answered exactly as for a new address, the same
// row holds a seat under the same rules, and the email tells the account's
// owner that the address already has an account instead of carrying a
// link. The answer is then a *lms.Concealed whose Err is the wrong
// password, which the throttles count. A new address's early answers spend
// the password derivation an account's address spent on its check, so that
// neither the answers nor their timing tell the two apart.
func (s *Redemptions) redeemPending(ctx context.Context, inv *invitation, in lms.NewRedemption, notice bool) (*lms.Redemption, bool, error) {
	r, created, err := s.takePending(ctx, inv, in, notice)
	if !notice {
		return r, created, err
	}
	switch {
	case err == nil:
		return nil, false, &lms.Concealed{Err: errBadCredentials(), Answer: r, Created: created}
	case lms.ErrorCode(err) == lms.ERateLimited || lms.ErrorCode(err) == lms.EInvitationFull:
		return nil, false, &lms.Concealed{Err: errBadCredentials(), Shown: err}
	}
	return nil, false, err
}

func (s *Redemptions) takePending(ctx context.Context, inv *invitation, in lms.NewRedemption, notice bool) (*lms.Redemption, bool, error) {
	if s.queue == nil {
		return nil, false, errors.New("store: no job queue configured")
	}
	var prev []pendingRedemption
	if err := s.q(ctx).Where("invitation_id = ? AND email = ?", inv.ID, in.Email).Limit(1).Find(&prev).Error; err != nil {
		return nil, false, err
	}
	early := func(err error) (*lms.Redemption, bool, error) {
		if !notice {
			if derr := s.hasher.VerifyDummy(ctx, in.Password); derr != nil {
				return nil, false, derr
			}
		}
		return nil, false, err
	}
	if err := pendingRefusal(inv, prev, s.now()); err != nil {
		return early(err)
	}
	hash := ""
	if !notice {
		var err error
		if hash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return nil, false, err
		}
	}
	token, err := auth.NewOpaqueToken()
	if err != nil {
		return nil, false, err
	}
	sealed, err := auth.Seal(s.verifySealKey, token)
	if err != nil {
		return nil, false, err
	}
	now := s.now()
	p := pendingRedemption{ID: newID(), InvitationID: inv.ID, OrganizationID: inv.OrganizationID, Email: in.Email,
		EmailSkeleton: lms.EmailSkeleton(in.Email), FirstName: in.FirstName, LastName: in.LastName, Notice: notice,
		PasswordHash: hash, TokenHash: auth.HashOpaqueToken(token), TokenSealed: sealed, ClientIP: truncate(in.ClientIP, maxClientIPLen),
		UserAgent: truncate(in.UserAgent, maxUserAgentLen), ExpiresAt: now.Add(s.verificationTTL), SentAt: now, CreatedAt: now}
	replaced := len(prev) == 1
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if replaced {
			return s.replacePending(ctx, tx, &p, &prev[0])
		}
		if err := s.insertPending(ctx, tx, &p, now); err != nil {
			return err
		}
		// A pending redemption holds its seat from now: the last one
		// fills the invitation.
		return s.emitIfFullFor(ctx, tx, inv.OrganizationID, inv.ID)
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return nil, false, errPasscodeInvalid() // the invitation was deleted meanwhile
	}
	if err != nil {
		return nil, false, translate(err, "redemption")
	}
	groups, err := invitationGroupRefs(s.q(ctx), inv.ID)
	if err != nil {
		return nil, false, err
	}
	if groups == nil {
		groups = []lms.GroupRef{}
	}
	return &lms.Redemption{ID: p.ID, InvitationID: inv.ID, Status: lms.RedemptionPendingVerification,
		Email: p.Email, FirstName: p.FirstName, LastName: p.LastName, UserGroups: groups,
		Enrollments: []*lms.Enrollment{}, CreatedAt: p.CreatedAt, VerificationExpiresAt: &p.ExpiresAt}, !replaced, nil
}

// pendingRefusal says why a pending redemption of inv may not be taken, or
// prev (the address's pending redemption, if any) replaced, at now: a
// replacement sends a new link, by lms.PendingLink.CheckResend's rule; a
// new one needs a seat.
func pendingRefusal(inv *invitation, prev []pendingRedemption, now time.Time) error {
	if len(prev) == 0 {
		if inv.state().RegistrationsRemaining() == 0 {
			return errInvitationFull()
		}
		return nil
	}
	return lms.PendingLink{Resends: prev[0].Resends, SentAt: prev[0].SentAt, ExpiresAt: prev[0].ExpiresAt}.CheckResend(now)
}

// replacePending gives prev the names, password and link of p, keeping its
// seat and its first link's expiry, and queues the new link's email.
func (s *Redemptions) replacePending(ctx context.Context, tx *gorm.DB, p, prev *pendingRedemption) error {
	p.ID, p.CreatedAt, p.ExpiresAt, p.Resends = prev.ID, prev.CreatedAt, prev.ExpiresAt, prev.Resends+1
	res := tx.Model(&pendingRedemption{}).Where("id = ? AND token_hash = ?", p.ID, prev.TokenHash).Updates(map[string]any{
		"first_name": p.FirstName, "last_name": p.LastName, "notice": p.Notice, "password_hash": p.PasswordHash,
		"token_hash": p.TokenHash, "token_sealed": p.TokenSealed, "client_ip": p.ClientIP, "user_agent": p.UserAgent,
		"resends": p.Resends, "sent_at": p.SentAt})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errRaced // verified, expired or replaced meanwhile
	}
	return s.enqueueJobs(ctx, tx, []river.InsertManyParams{{Args: VerificationArgs{PendingID: p.ID, TokenHash: p.TokenHash}}})
}

// insertPending writes p, queues its link's email and its expiry, and
// takes its seat at now.
func (s *Redemptions) insertPending(ctx context.Context, tx *gorm.DB, p *pendingRedemption, now time.Time) error {
	if err := tx.Create(p).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
		return errRaced // the same address concurrently: the retry replaces
	} else if err != nil {
		return err
	}
	// The jobs before the seat, which locks the invitation's row until the
	// end of the transaction.
	err := s.enqueueJobs(ctx, tx, []river.InsertManyParams{
		{Args: VerificationArgs{PendingID: p.ID, TokenHash: p.TokenHash}},
		{Args: ExpiryArgs{PendingID: p.ID}, InsertOpts: &river.InsertOpts{ScheduledAt: time.Now().Add(p.ExpiresAt.Sub(now))}},
	})
	if err != nil {
		return err
	}
	return takeSeat(tx, p.InvitationID, now)
}

func errVerificationInvalid() error {
	return lms.Errorf(lms.EVerificationInvalid, "the verification link is not valid: it was used, it expired or it never existed")
}

func errVerificationPassword() error {
	return &lms.Error{Code: lms.EUnauthorized, Message: "the password is not the one given when registering with this address",
		Fields: []lms.FieldError{{Field: "password", Message: "must be the password given when registering; registering again sends a new link"}}}
}

// VerifyRedemption implements lms.RedemptionService. The password must be
// the one the redemption was last given: anyone holding the passcode may
// redeem the address again, which sends the address a new link, but only
// the person who reads that address and chose the password can complete it.
func (s *Redemptions) VerifyRedemption(ctx context.Context, token, password string) (*lms.Redemption, error) {
	if token == "" || len(token) > lms.MaxTokenLen || !lms.ValidText(token, false) {
		return nil, errVerificationInvalid()
	}
	hash := auth.HashOpaqueToken(token)
	// The password is checked before the transaction, which must not hold
	// its locks for the length of a hash; the row is then taken only if it
	// still has this link and this password.
	var found []pendingRedemption
	if err := s.q(ctx).Where("token_hash = ? AND expires_at > ? AND notice = ?", hash, s.now(), false).Limit(1).Find(&found).Error; err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, errVerificationInvalid()
	}
	if ok, err := s.hasher.Verify(ctx, password, found[0].PasswordHash); err != nil {
		return nil, err
	} else if !ok {
		return nil, errVerificationPassword()
	}
	var v verified
	// A concurrent write may take the address's account or this
	// invitation's redemption first (another invitation's link verified at
	// the same instant, or the account redeeming with its password): the
	// transaction then collides on a unique key, and is tried again from
	// the top, where it sees the winner's rows and joins them.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = s.tx(ctx, func(tx *gorm.DB) (err error) {
			v, err = s.verifyOnce(ctx, tx, hash, found[0].PasswordHash)
			return err
		})
		if !errors.Is(err, errRaced) {
			break
		}
	}
	if errors.Is(err, errRaced) {
		return nil, lms.Errorf(lms.EConflict, "the verification collided with concurrent changes of this address; try again")
	}
	if err != nil {
		return nil, translate(err, "redemption")
	}
	out, err := s.redemptionResult(ctx, &v.red, v.u)
	if err != nil {
		return nil, err
	}
	out.Tokens, out.Status = v.tokens, lms.RedemptionActive
	return out, nil
}

// verified is what a verification made: the redemption, its account, and
// the tokens of a new account.
type verified struct {
	red    redemption
	u      *user
	tokens *lms.TokenPair
}

// verifyOnce is one try of VerifyRedemption's transaction.
func (s *Redemptions) verifyOnce(ctx context.Context, tx *gorm.DB, hash, passwordHash string) (verified, error) {
	now := s.now()
	q := tx
	if s.db.dialect == Postgres {
		// Two clicks on one link: the second waits, then finds nothing.
		q = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var p pendingRedemption
	err := q.Where("token_hash = ? AND expires_at > ? AND password_hash = ?", hash, now, passwordHash).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return verified{}, errVerificationInvalid()
	} else if err != nil {
		return verified{}, err
	}
	var inv invitation
	if err := tx.Where("id = ?", p.InvitationID).Take(&inv).Error; err != nil {
		return verified{}, err
	}
	if inv.Status == string(lms.InvitationRevoked) {
		return verified{}, errVerificationInvalid()
	}
	if res := tx.Where("id = ?", p.ID).Delete(&pendingRedemption{}); res.Error != nil {
		return verified{}, res.Error
	} else if res.RowsAffected == 0 {
		return verified{}, errVerificationInvalid() // completed or expired concurrently (SQLite)
	}
	var existing []user
	if err := tx.Where("organization_id = ? AND email = ?", p.OrganizationID, p.Email).Limit(1).Find(&existing).Error; err != nil {
		return verified{}, err
	}
	var earlier []redemption
	if err := tx.Where("invitation_id = ? AND email = ?", p.InvitationID, p.Email).Limit(1).Find(&earlier).Error; err != nil {
		return verified{}, err
	}
	if len(earlier) == 1 && len(existing) == 1 {
		// The address's account redeemed this invitation with its
		// password meanwhile: that seat counts, this one goes back.
		v := verified{red: earlier[0], u: &existing[0]}
		return v, tx.Exec(`UPDATE invitations SET registrations_used = registrations_used - 1 WHERE id = ?`, p.InvitationID).Error
	}
	var v verified
	if len(existing) == 1 {
		// An account was made for the address meanwhile (by a manager):
		// the verified address joins with it, and its owner signs in
		// with its own password.
		v.u = &existing[0]
	} else {
		hash := p.PasswordHash
		v.u = &user{ID: newID(), OrganizationID: p.OrganizationID, OrganizationGroupID: inv.OrganizationGroupID,
			Email: p.Email, FirstName: p.FirstName, LastName: p.LastName, Search: userSearch(p.Email, p.FirstName, p.LastName),
			Role: string(lms.RoleLearner), Status: string(lms.UserActive), PasswordHash: &hash, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(v.u).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
			return verified{}, errRaced
		} else if err != nil {
			return verified{}, err
		}
		if v.tokens, err = s.auth.issueTokens(ctx, tx, v.u, newID()); err != nil {
			return verified{}, err
		}
	}
	v.red = redemption{ID: p.ID, InvitationID: p.InvitationID, OrganizationID: p.OrganizationID, UserID: v.u.ID,
		Email: p.Email, ClientIP: p.ClientIP, UserAgent: p.UserAgent, CreatedAt: now}
	if err := tx.Create(&v.red).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
		return verified{}, errRaced
	} else if err != nil {
		return verified{}, err
	}
	if err := joinInvitation(tx, s.newIDSQL(), inv.OrganizationID, inv.ID, v.u.ID, now); err != nil {
		return verified{}, err
	}
	subs, err := subscribersOf(tx, inv.OrganizationID)
	if err != nil {
		return verified{}, err
	}
	return v, s.emitRedemption(ctx, tx, subs, &v.red, v.u, v.tokens != nil)
}

// joinInvitation puts a user in an invitation's user groups and enrolls
// them in the groups' courses; what they already had stays as it was.
func joinInvitation(tx *gorm.DB, newIDSQL, org, invID, userID string, now time.Time) error {
	err := tx.Exec(`INSERT INTO user_group_members (user_group_id, user_id, created_at)
		SELECT user_group_id, ?, ? FROM invitation_user_groups WHERE invitation_id = ?
		ON CONFLICT (user_group_id, user_id) DO NOTHING`, userID, now, invID).Error
	if err != nil {
		return err
	}
	return tx.Exec(enrollSQL(newIDSQL, `?, ?, gc.course_id, gc.user_group_id, ?, ?
		FROM user_group_courses gc JOIN invitation_user_groups iug ON iug.user_group_id = gc.user_group_id
		WHERE iug.invitation_id = ?`), org, userID, invID, now, invID).Error
}

// ExpirePendingRedemptions gives back the seat of every pending redemption
// that expired by now (of the one named, when id is not empty), each
// exactly once: the row is deleted and its seat returned in one
// transaction, and a row already gone returns nothing. It reports how many
// seats were given back.
func (s *Redemptions) ExpirePendingRedemptions(ctx context.Context, id string) (int, error) {
	now := s.now()
	q := s.q(ctx).Model(&pendingRedemption{}).Where("expires_at <= ?", now)
	if id != "" {
		q = q.Where("id = ?", id)
	}
	var due []pendingRedemption
	if err := q.Select("id", "invitation_id").Limit(1000).Find(&due).Error; err != nil {
		return 0, err
	}
	given := 0
	for _, p := range due {
		err := s.tx(ctx, func(tx *gorm.DB) error {
			res := tx.Where("id = ? AND expires_at <= ?", p.ID, now).Delete(&pendingRedemption{})
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error // verified, replaced or given back meanwhile
			}
			given++
			return tx.Exec(`UPDATE invitations SET registrations_used = registrations_used - 1 WHERE id = ?`, p.InvitationID).Error
		})
		if err != nil {
			return given, err
		}
	}
	return given, nil
}

// verificationWorker emails a pending redemption its link, or, for a
// notice, tells the address's owner that it already has an account.
type verificationWorker struct {
	river.WorkerDefaults[VerificationArgs]
	store  *Redemptions
	sender mail.Sender
	from   string
	log    *slog.Logger
}

// Work implements river.Worker.
func (w *verificationWorker) Work(ctx context.Context, job *river.Job[VerificationArgs]) error {
	s := w.store
	var p pendingRedemption
	err := s.q(ctx).Where("id = ?", job.Args.PendingID).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil // verified or expired: nothing to send
	} else if err != nil {
		return err
	}
	if p.TokenHash != job.Args.TokenHash || !p.ExpiresAt.After(s.now()) {
		return nil // a newer link replaced this one, or it is too late
	}
	var inv invitation
	if err := s.q(ctx).Select("name", "organization_id", "passcode_sealed").Where("id = ?", p.InvitationID).Take(&inv).Error; err != nil {
		return err
	}
	orgName, err := s.organizationName(s.q(ctx), inv.OrganizationID)
	if err != nil {
		return err
	}
	var r mail.Rendered
	if p.Notice {
		// The address has an account: its owner is told, and sent no link.
		passcode, err := auth.Open(s.sealKey, inv.PasscodeSealed)
		if err != nil {
			return river.JobCancel(err)
		}
		r, err = mail.RenderAccountNotice(mail.AccountNotice{OrganizationName: orgName, InvitationName: inv.Name,
			EnrollURL: s.enrollURL(passcode)})
		if err != nil {
			return river.JobCancel(err)
		}
	} else {
		token, err := auth.Open(s.verifySealKey, p.TokenSealed)
		if err != nil {
			return river.JobCancel(err)
		}
		r, err = mail.RenderVerification(mail.Verification{OrganizationName: orgName, InvitationName: inv.Name,
			FirstName: p.FirstName, VerifyURL: s.verifyURL(token), ExpiresAt: p.ExpiresAt})
		if err != nil {
			return river.JobCancel(err)
		}
	}
	err = w.sender.Send(ctx, mail.Message{From: w.from, To: p.Email, Subject: r.Subject, Text: r.Text, HTML: r.HTML,
		MessageID: fmt.Sprintf("%s.%s@enrollkit", p.ID, p.TokenHash[:16])})
	if err == nil {
		w.log.Info("verification email sent", "pending_redemption_id", p.ID, "invitation_id", p.InvitationID, "attempt", job.Attempt)
		return nil
	}
	w.log.Warn("verification email not sent", "pending_redemption_id", p.ID, "attempt", job.Attempt,
		"outcome_unknown", mail.IsOutcomeUnknown(err), "error", err.Error())
	if mail.IsPermanent(err) || mail.IsOutcomeUnknown(err) {
		// The relay may have the message: a second copy is not sent
		// blindly; redeeming again sends a new link.
		return river.JobCancel(err)
	}
	return err
}

// expiryWorker gives back expired pending redemptions' seats.
type expiryWorker struct {
	river.WorkerDefaults[ExpiryArgs]
	store *Redemptions
}

// Work implements river.Worker. A job that runs before its redemption
// expires by the store's clock waits until it does.
func (w *expiryWorker) Work(ctx context.Context, job *river.Job[ExpiryArgs]) error {
	s := w.store
	if id := job.Args.PendingID; id != "" {
		var p []pendingRedemption
		if err := s.q(ctx).Select("expires_at").Where("id = ?", id).Limit(1).Find(&p).Error; err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
		if wait := p[0].ExpiresAt.Sub(s.now()); wait > 0 {
			return river.JobSnooze(wait)
		}
	}
	_, err := s.ExpirePendingRedemptions(ctx, job.Args.PendingID)
	return err
}

// expirySweep is how often every expired pending redemption is looked for,
// beside the job each one has: a second line, should a job be lost.
const expirySweep = 15 * time.Minute
