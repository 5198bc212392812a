// Package api is enrollkit's HTTP interface: the gin router, middleware, one
// file per resource with its request and response types, and the one error
// writer. It is the only package that imports gin.
//
// @title                      enrollkit API
// @version                    1.0
// @description                Full Managers build user groups, attach courses and hand out invitations whose passcode lets employees self-register and be enrolled. Errors are RFC 9457 problem documents; lists are keyset-paginated with opaque cursors.
// @BasePath                   /
// @tag.name        auth
// @tag.description Signing in: a person's password, an integration client's credentials, refreshing and ending sessions.
//
// @tag.name        redemptions
// @tag.description The employee's side of an invitation: what a passcode leads to, redeeming it, verifying the address.
//
// @tag.name        invitations
// @tag.description A Full Manager's invitations: passcode, seats, user groups, the email and who redeemed.
//
// @tag.name        user groups
// @tag.description User groups of an organization group, their courses and members.
//
// @tag.name        courses
// @tag.description The organization's course catalog.
//
// @tag.name        users
// @tag.description The people of an organization: managers and learners.
//
// @tag.name        organization groups
// @tag.description An organization's tree of departments or sites.
//
// @tag.name        enrollments
// @tag.description The signed-in learner's enrollments.
//
// @tag.name        audit
// @tag.description What changed in the organization, who changed it and when.
//
// @tag.name        webhooks
// @tag.description Signed event notifications to HR systems (Standard Webhooks).
//
// @tag.name        integration clients
// @tag.description Machine credentials for HR systems (OAuth 2.0 client credentials).
//
// @tag.name        enrollment page
// @tag.description The HTML page the invitation and verification emails link to.
//
// @tag.name        operations
// @tag.description Health, readiness and this document.
//
// @securityDefinitions.apikey BearerAuth
// @in                         header
// @name                       Authorization
// @description                "Bearer " followed by an access token from /api/v1/auth/login or /api/v1/oauth/token.
package api

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/enrollkit/enrollkit/pkg/config"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
)

// Services are the domain services the API exposes.
type Services struct {
	Organizations      lms.OrganizationService
	OrganizationGroups lms.OrganizationGroupService
	Users              lms.UserService
	IntegrationClients lms.IntegrationClientService
	Auth               lms.AuthService
	Courses            lms.CourseService
	UserGroups         lms.UserGroupService
	Enrollments        lms.EnrollmentService
	Invitations        lms.InvitationService
	Deliveries         lms.DeliveryService
	Redemptions        lms.RedemptionService
	Audit              lms.AuditService
	Webhooks           lms.WebhookEndpointService
	// Idempotency keeps the answers of POSTs sent with an Idempotency-Key;
	// without it the header is ignored.
	Idempotency lms.IdempotencyService
}

// Readiness reports whether the process can serve: database reachable and
// migrations applied.
type Readiness func(ctx context.Context) error

// ThrottleRules are the failure limits of the credential endpoints.
type ThrottleRules struct {
	LoginIP ratelimit.Rule
	// LoginAccount counts failed sign-ins per account and client address
	// (an IPv6 client by its /64): failures from one place block that place.
	LoginAccount ratelimit.Rule
	// LoginAccountAny counts them per account from anywhere; once spent it
	// slows every attempt on the account down (up to 5 s) instead of
	// refusing it, so nobody can lock the owner out.
	LoginAccountAny ratelimit.Rule
	// RedeemIP counts failed passcode attempts per client IP.
	RedeemIP ratelimit.Rule
	// RedeemSite counts them per IPv6 /48 as well, the block one
	// subscriber is commonly given: a looser second line over its /64s.
	RedeemSite ratelimit.Rule
	// PasscodeConflict counts, per manager (or integration client) of an
	// organization, invitation writes refused
	// because the passcode is taken. Passcodes are unique across all
	// organizations, so without it a manager could probe for other
	// tenants' passcodes, drafts and paused ones included.
	PasscodeConflict ratelimit.Rule
}

// Options configure a Server.
type Options struct {
	Services       Services
	Logger         *slog.Logger
	Ready          Readiness
	Throttle       ratelimit.Throttle
	Rules          ThrottleRules
	OpenAPI        []byte
	BodyLimit      int64
	CORSOrigins    []string
	TrustedProxies []string
	// Registry receives the metrics; nil makes a private one.
	Registry *prometheus.Registry
	// DB, when set, has its pool's gauges exported.
	DB *sql.DB
	// Collectors are more metrics to export (the password hasher's).
	Collectors []prometheus.Collector
	// RequestTimeout is each request's deadline (none when zero): the
	// database calls a request makes give up when it passes, and the
	// request is answered 503 with Retry-After, its transaction rolled
	// back. Shorter than the HTTP server's write timeout, so the answer is
	// still sent.
	RequestTimeout time.Duration
	// MaxInFlight bounds the requests served at once (none when zero);
	// more wait their turn, first come first served, until their deadline,
	// then are answered 503 with Retry-After. Every request served holds
	// its rows and its answer in memory, so this is what bounds memory
	// under thousands of concurrent clients; the probes are never queued.
	MaxInFlight int
	// Conns, when set, bounds the open connections: the server's answers
	// close theirs while it is at the bound (see ConnLimit).
	Conns *ConnLimit
	// EnrollPage serves the enrollment page at /enroll.
	EnrollPage bool
	// SecureCookies marks the page's cookie HTTPS-only: the public URL is
	// https, wherever TLS ends.
	SecureCookies bool
}

// Server is the HTTP API.
type Server struct {
	Options
	engine  *gin.Engine
	handler http.Handler // engine, bounded
	// draining is set once the process is stopping: /readyz answers 503.
	draining atomic.Bool
	log      *slog.Logger
	metrics  *metrics
	registry *prometheus.Registry
}

// New builds the router with every route and middleware.
func New(o Options) (*Server, error) {
	gin.SetMode(gin.ReleaseMode)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BodyLimit == 0 {
		o.BodyLimit = config.DefaultBodyLimit
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.DB != nil {
		o.Registry.MustRegister(collectors.NewDBStatsCollector(o.DB, "enrollkit"))
	}
	o.Registry.MustRegister(o.Collectors...)
	// The rules a deployment sets default to the configuration's defaults.
	if o.Rules.LoginIP.Limit == 0 {
		o.Rules.LoginIP = ratelimit.Rule{Name: "login-ip", Limit: config.DefaultLoginIPLimit, Period: config.DefaultThrottleWindow}
	}
	if o.Rules.LoginAccount.Limit == 0 {
		o.Rules.LoginAccount = ratelimit.Rule{Name: "login-account", Limit: config.DefaultLoginAccountLimit,
			Period: config.DefaultThrottleWindow}
	}
	if o.Rules.LoginAccountAny.Limit == 0 {
		o.Rules.LoginAccountAny = ratelimit.Rule{Name: "login-account-any", Limit: config.DefaultLoginAccountAnyLimit,
			Period: config.DefaultThrottleWindow}
	}
	if o.Rules.RedeemIP.Limit == 0 {
		o.Rules.RedeemIP = ratelimit.Rule{Name: "redeem-ip", Limit: config.DefaultRedeemIPLimit, Period: config.DefaultThrottleWindow}
	}
	if o.Rules.RedeemSite.Limit == 0 {
		o.Rules.RedeemSite = ratelimit.Rule{Name: "redeem-site", Limit: config.DefaultRedeemSiteLimit,
			Period: config.DefaultThrottleWindow}
	}
	if o.Rules.PasscodeConflict.Limit == 0 {
		o.Rules.PasscodeConflict = ratelimit.Rule{Name: "passcode-conflict", Limit: 10, Period: time.Hour}
	}
	if o.Throttle == nil {
		o.Throttle = ratelimit.NewMemory()
	}
	s := &Server{Options: o, log: o.Logger, registry: o.Registry, metrics: newMetrics(o.Registry)}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	// Only the configured proxies may set the client IP; by default none,
	// so a forged X-Forwarded-For is ignored.
	if err := e.SetTrustedProxies(o.TrustedProxies); err != nil {
		return nil, err
	}
	e.Use(s.recoverPanics, withRequestID, s.observe, securityHeaders, corsFor(o.CORSOrigins), limitBody(o.BodyLimit))
	e.NoRoute(func(c *gin.Context) {
		abortWith(c, lms.ENotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path)
	})
	e.NoMethod(func(c *gin.Context) {
		abortWith(c, "method_not_allowed", "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path)
	})
	s.engine = e
	s.handler = bounded(e, o.MaxInFlight, o.RequestTimeout, o.Conns, s.metrics.shed)
	s.routes()
	return s, nil
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain makes /readyz answer 503 from now on, while every other route is
// served as before: a stopping process tells its load balancer to send it
// nothing more before it stops accepting connections.
func (s *Server) Drain() { s.draining.Store(true) }

// Routes lists the registered routes, for the tests that hold them against
// the spec and the role policy.
func (s *Server) Routes() gin.RoutesInfo { return s.engine.Routes() }

func (s *Server) routes() {
	e := s.engine
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", s.openapi)
	e.GET("/swagger/*any", s.swaggerUI())
	e.GET("/swagger", func(c *gin.Context) { c.Redirect(http.StatusFound, "/swagger/index.html") })
	if s.EnrollPage {
		e.GET("/enroll", s.enrollPage)
		e.GET("/enroll/enroll.css", s.enrollStyle)
		e.POST("/enroll", s.enrollSubmit)
		e.GET("/enroll/verify", s.enrollVerifyPage)
		e.POST("/enroll/verify", s.enrollVerifySubmit)
	}

	v1 := e.Group("/api/v1")
	// Anyone.
	v1.POST("/auth/login", s.login)
	v1.POST("/auth/refresh", s.refresh)
	v1.POST("/auth/logout", s.logout)
	v1.POST("/oauth/token", s.oauthToken)
	v1.POST("/redemptions/preview", s.previewRedemption)
	v1.POST("/redemptions", s.redeem)
	v1.POST("/redemptions/verify", s.verifyRedemption)

	// Every answer to a signed-in caller is the caller's own: no cache
	// keeps it (privateAnswers).
	authed := v1.Group("", privateAnswers, s.authenticate)
	authed.GET("/me", s.me)
	authed.GET("/me/enrollments", requireUser, s.myEnrollments)

	// Every GET below only reads and answers the same whatever the role
	// that passed requireRole: authenticateReads reads the caller's row
	// with the handler's first query.
	staff := v1.Group("", privateAnswers, s.authenticateReads, s.idempotent)
	managers := staff.Group("", requireRole(lms.RoleFullManager, lms.RoleLimitedManager))
	full := staff.Group("", requireRole(lms.RoleFullManager))

	managers.GET("/organization-groups", s.listOrganizationGroups)
	full.POST("/organization-groups", s.createOrganizationGroup)
	managers.GET("/organization-groups/:id", s.getOrganizationGroup)
	full.PATCH("/organization-groups/:id", s.updateOrganizationGroup)
	full.DELETE("/organization-groups/:id", s.deleteOrganizationGroup)

	managers.GET("/users", s.listUsers)
	full.POST("/users", s.createUser)
	managers.GET("/users/:id", s.getUser)
	full.PATCH("/users/:id", s.updateUser)
	full.DELETE("/users/:id", s.deleteUser)

	full.GET("/integration-clients", s.listIntegrationClients)
	full.POST("/integration-clients", s.createIntegrationClient)
	full.DELETE("/integration-clients/:id", s.deleteIntegrationClient)

	managers.GET("/courses", s.listCourses)
	full.POST("/courses", s.createCourse)
	managers.GET("/courses/:id", s.getCourse)
	full.PATCH("/courses/:id", s.updateCourse)
	full.DELETE("/courses/:id", s.deleteCourse)

	managers.GET("/user-groups", s.listUserGroups)
	full.POST("/user-groups", s.createUserGroup)
	managers.GET("/user-groups/:id", s.getUserGroup)
	full.PATCH("/user-groups/:id", s.updateUserGroup)
	full.DELETE("/user-groups/:id", s.deleteUserGroup)
	managers.GET("/user-groups/:id/courses", s.listUserGroupCourses)
	full.POST("/user-groups/:id/courses", s.addUserGroupCourses)
	full.DELETE("/user-groups/:id/courses/:course_id", s.removeUserGroupCourse)
	managers.GET("/user-groups/:id/members", s.listUserGroupMembers)
	full.POST("/user-groups/:id/members", s.addUserGroupMembers)
	full.DELETE("/user-groups/:id/members/:user_id", s.removeUserGroupMember)

	// Full Managers only: a Limited Manager gets 403 on every method here,
	// reads included.
	inv := full.Group("/invitations")
	inv.GET("", s.listInvitations)
	inv.POST("", s.createInvitation)
	inv.GET("/:id", s.getInvitation)
	inv.PATCH("/:id", s.updateInvitation)
	inv.DELETE("/:id", s.deleteInvitation)
	inv.GET("/:id/email", s.getInvitationEmail)
	inv.POST("/:id/deliveries", s.createDeliveries)
	inv.GET("/:id/deliveries", s.listDeliveries)
	inv.GET("/:id/redemptions", s.listRedemptions)
	// A delivery belongs to its invitation, and only Full Managers reach
	// it either.
	full.POST("/deliveries/:id/resend", s.resendDelivery)
	// The audit log is a Full Manager's, as invitations are.
	full.GET("/audit-events", s.listAuditEvents)

	// So are webhooks, which tell of invitations and redemptions.
	hooks := full.Group("/webhook-endpoints")
	hooks.GET("", s.listWebhookEndpoints)
	hooks.POST("", s.createWebhookEndpoint)
	hooks.GET("/:id", s.getWebhookEndpoint)
	hooks.PATCH("/:id", s.updateWebhookEndpoint)
	hooks.DELETE("/:id", s.deleteWebhookEndpoint)
	hooks.POST("/:id/rotate-secret", s.rotateWebhookSecret)
	hooks.GET("/:id/attempts", s.listWebhookAttempts)
	hooks.POST("/:id/events/:event_id/redeliver", s.redeliverWebhookEvent)
}
