package lms

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// Organization is a tenant: everything else belongs to exactly one.
type Organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// OrganizationGroup is a node of an organization's tree of departments or
// sites. The root one is created with the organization and has no parent.
type OrganizationGroup struct {
	ID             string
	OrganizationID string
	ParentID       *string
	Name           string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// UserStatus tells whether a user may sign in.
type UserStatus string

// User statuses.
const (
	UserActive   UserStatus = "active"
	UserDisabled UserStatus = "disabled"
)

// User is a person of an organization: a manager or a learner.
type User struct {
	ID                  string
	OrganizationID      string
	OrganizationGroupID string
	Email               string
	FirstName           string
	LastName            string
	Role                Role
	Status              UserStatus
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// IntegrationClient is an HR system or script that obtains tokens with the
// OAuth 2.0 client credentials grant and acts with the role it was given.
type IntegrationClient struct {
	ID             string
	OrganizationID string
	Name           string
	Role           Role
	CreatedBy      string
	CreatedAt      time.Time
}

// NormalizeEmail returns the form in which emails are stored and compared:
// trimmed and lower-cased, so that uniqueness is case-insensitive.
//
// The address is put in Unicode normalization form NFKC first, so that
// full-width and other compatibility forms (ｋａｔｅ@example.com) are the
// address they look like. The local part is lower-cased as well as the
// domain: one mailbox, one account.
func NormalizeEmail(s string) string { return strings.ToLower(norm.NFKC.String(strings.TrimSpace(s))) }

// EmailSkeleton is what an address looks like: its UTS #39 skeleton, in
// which confusable characters (Cyrillic а and Latin a, 0 and O) are one.
// Two different addresses of an organization with the same skeleton are a
// look-alike, refused for new accounts.
func EmailSkeleton(email string) string { return confusables.Skeleton(NormalizeEmail(email)) }

// ValidEmail reports whether s is a plain address (no display name) of a
// sane length at a domain name: an address literal (a@[127.0.0.1]) would
// have invitation emails sent straight to a host of the sender's choosing.
func ValidEmail(s string) bool {
	if len(s) > MaxEmailLen || strings.ContainsAny(s, " <>[]") || !ValidText(s, false) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndex(s, "@"):], ".")
}

// ValidName reports whether s is a non-blank display name of at most max
// characters, on one line and free of control and bidirectional formatting
// characters (ValidText).
func ValidName(s string, max int) bool {
	return strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= max && ValidText(s, false)
}

// NewOrganization is the input of CreateOrganization: the tenant and its
// first Full Manager.
type NewOrganization struct {
	Name             string
	ManagerEmail     string
	ManagerPassword  string
	ManagerFirstName string
	ManagerLastName  string
}

// OrganizationSetup is what CreateOrganization made.
type OrganizationSetup struct {
	OrganizationID      string
	OrganizationGroupID string
	ManagerID           string
}

// OrganizationGroupFilter narrows a list of organization groups.
type OrganizationGroupFilter struct {
	PageRequest
	ParentID *string
}

// OrganizationGroupUpdate holds the fields a PATCH may change; nil means
// unchanged.
type OrganizationGroupUpdate struct {
	Name     *string
	ParentID *string
}

// UserFilter narrows a list of users. Q matches email, first and last name,
// case-insensitively.
type UserFilter struct {
	PageRequest
	Role *Role
	Q    string
}

// NewUser is the input of CreateUser. An empty Password creates an account
// that cannot sign in until one is set.
type NewUser struct {
	Email               string
	FirstName           string
	LastName            string
	Role                Role
	Password            string
	OrganizationGroupID string
}

// UserUpdate holds the fields a PATCH may change; nil means unchanged.
type UserUpdate struct {
	FirstName           *string
	LastName            *string
	Role                *Role
	Status              *UserStatus
	OrganizationGroupID *string
	Password            *string
}

// NewIntegrationClient is the input of CreateIntegrationClient.
type NewIntegrationClient struct {
	Name string
	Role Role
}

// IntegrationClientSecret is returned once, when a client is created.
type IntegrationClientSecret struct {
	Client *IntegrationClient
	Secret string
}

// TokenPair is what a successful sign-in returns.
type TokenPair struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
}

// OrganizationService creates tenants.
type OrganizationService interface {
	// CreateOrganization creates an organization, its root organization
	// group and its first Full Manager in one transaction.
	// Returns validation_failed.
	CreateOrganization(ctx context.Context, in NewOrganization) (*OrganizationSetup, error)
	// CountOrganizations tells whether the database is still empty.
	CountOrganizations(ctx context.Context) (int64, error)
}

// OrganizationGroupService manages the caller's organization tree.
type OrganizationGroupService interface {
	// Returns not_found.
	FindOrganizationGroupByID(ctx context.Context, id string) (*OrganizationGroup, error)
	// Returns bad_request for a bad page request.
	FindOrganizationGroups(ctx context.Context, f OrganizationGroupFilter) (*Page[*OrganizationGroup], error)
	// Returns validation_failed, not_found (parent) and conflict (duplicate name).
	CreateOrganizationGroup(ctx context.Context, name, parentID string) (*OrganizationGroup, error)
	// Returns validation_failed, not_found and conflict.
	UpdateOrganizationGroup(ctx context.Context, id string, upd OrganizationGroupUpdate) (*OrganizationGroup, error)
	// Returns not_found and conflict (root, or still has children, users or user groups).
	DeleteOrganizationGroup(ctx context.Context, id string) error
}

// UserService manages the caller's organization's people.
type UserService interface {
	// Returns not_found.
	FindUserByID(ctx context.Context, id string) (*User, error)
	// Returns bad_request.
	FindUsers(ctx context.Context, f UserFilter) (*Page[*User], error)
	// Returns validation_failed, not_found (organization group) and conflict (email taken).
	CreateUser(ctx context.Context, in NewUser) (*User, error)
	// Returns validation_failed, not_found and conflict.
	UpdateUser(ctx context.Context, id string, upd UserUpdate) (*User, error)
	// Returns not_found and conflict (the caller itself).
	DeleteUser(ctx context.Context, id string) error
}

// IntegrationClientService manages HR system credentials.
type IntegrationClientService interface {
	// Returns bad_request.
	FindIntegrationClients(ctx context.Context, p PageRequest) (*Page[*IntegrationClient], error)
	// Returns validation_failed.
	CreateIntegrationClient(ctx context.Context, in NewIntegrationClient) (*IntegrationClientSecret, error)
	// Returns not_found.
	DeleteIntegrationClient(ctx context.Context, id string) error
}

// AuthService signs actors in and checks their tokens.
type AuthService interface {
	// Login checks an email and password. organizationID may be "" unless
	// the email belongs to accounts of several organizations.
	// Returns unauthorized, the same for every kind of failure.
	Login(ctx context.Context, email, password, organizationID string) (*TokenPair, error)
	// Refresh rotates a refresh token. Reusing a spent one revokes its family.
	// Returns unauthorized.
	Refresh(ctx context.Context, refreshToken string) (*TokenPair, error)
	// Logout revokes the refresh token's family. Unknown tokens are ignored.
	Logout(ctx context.Context, refreshToken string) error
	// ClientCredentials issues an access token to an integration client.
	// Returns unauthorized.
	ClientCredentials(ctx context.Context, clientID, clientSecret string) (*TokenPair, error)
	// Authenticate verifies an access token and loads the actor as it is
	// now, so that a disabled user or a deleted client is refused at once.
	// Returns unauthorized.
	Authenticate(ctx context.Context, accessToken string) (*Actor, error)
	// AuthenticateLater verifies an access token and returns a copy of ctx
	// whose caller is pending (see PendingCaller): the caller's row is read
	// with the first query made with the context, or when settled. For
	// reads, where that saves a round trip. An actor it reads at once is
	// in the context as Authenticate's would be, with no PendingCaller.
	// Returns unauthorized.
	AuthenticateLater(ctx context.Context, accessToken string) (context.Context, error)
	// Me returns the calling user. Returns not_found for clients.
	Me(ctx context.Context) (*User, error)
}

// ValidID reports whether s is a UUID in the lower-case form enrollkit
// writes. Upper case is refused rather than folded, so that both dialects
// answer the same (PostgreSQL's uuid type would fold it, SQLite's text
// would not).
// Checking before a query keeps malformed IDs from reaching the database,
// where PostgreSQL would reject them as a type error rather than a miss.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		default:
			return false
		}
	}
	return true
}
