package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// saneRequestID is what a client-sent X-Request-ID must look like to be
// echoed; anything else is replaced, so logs cannot be forged or flooded.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)

// requestIDFrom is the ID of a request whose client sent X-Request-ID:
// sent, when it looks sane, or a new UUIDv7.
func requestIDFrom(sent string) string {
	if saneRequestID.MatchString(sent) {
		return sent
	}
	return uuid.Must(uuid.NewV7()).String()
}

// withRequestID gives every request an ID, kept in the request context for
// logs and echoed in X-Request-ID.
func withRequestID(c *gin.Context) {
	id := requestIDFrom(c.GetHeader("X-Request-ID"))
	c.Request = c.Request.WithContext(lms.NewContextWithRequestID(c.Request.Context(), id))
	c.Header("X-Request-ID", id)
	c.Next()
}

// bounded puts next behind the request deadline (none when zero) and the
// in-flight bound (none when zero): at most maxInFlight requests are
// served at once, the others wait for a turn in the order they came until
// their deadline, and are then answered 503. It is the outermost handler,
// so that a waiting request holds only its connection and its parsed
// headers, nothing of the router's. The probes pass at once, without a
// deadline: a server busy serving is alive, and /readyz bounds its own
// check.
func bounded(next http.Handler, maxInFlight int, timeout time.Duration, conns *ConnLimit, shed prometheus.Counter) http.Handler {
	if maxInFlight <= 0 && timeout <= 0 && conns == nil {
		return next
	}
	var slots chan struct{}
	if maxInFlight > 0 {
		slots = make(chan struct{}, maxInFlight)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conns.Full() {
			// Hand the connection over to one waiting to be accepted.
			w.Header().Set("Connection", "close")
		}
		if p := r.URL.Path; p == "/healthz" || p == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if timeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
			default:
				select {
				case slots <- struct{}{}:
				case <-r.Context().Done():
					shed.Inc()
					writeShed(w, r)
					return
				}
			}
			defer func() { <-slots }()
		}
		next.ServeHTTP(w, r)
	})
}

// writeShed answers a request that waited for a turn until its deadline,
// with a request ID as every answer has.
func writeShed(w http.ResponseWriter, r *http.Request) {
	id := requestIDFrom(r.Header.Get("X-Request-ID"))
	b, _ := json.Marshal(Problem{Type: problemType(lms.EUnavailable), Title: problemKinds[lms.EUnavailable].title,
		Status: http.StatusServiceUnavailable, Code: lms.EUnavailable, Instance: "urn:request:" + id,
		Detail: "the server is serving as many requests as it may; retry in a moment"})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "1")
	h.Set("X-Request-ID", id)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(b)
}

func requestID(c *gin.Context) string { return lms.RequestIDFromContext(c.Request.Context()) }

// routeOf returns the route template of a request, never its raw path, so
// that logs and metrics do not explode with IDs.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// metrics are the HTTP metrics of one server.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// guesses counts passcodes judged by the redemption throttle, by
	// outcome: wrong (a guess), refused (a client out of guesses). A
	// distributed guess shows as wrong guesses of the whole site, which no
	// per-client limit sees: alert on their rate.
	guesses *prometheus.CounterVec
	// shed counts requests answered 503 after waiting for a turn under
	// the in-flight bound until their deadline.
	shed prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrollkit_http_requests_total",
			Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "enrollkit_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	m.guesses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "enrollkit_passcode_guesses_total",
		Help: "Passcodes judged by the redemption throttle: wrong ones (refused ones included), and attempts refused because the client was out of guesses.",
	}, []string{"outcome"})
	m.shed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "enrollkit_http_requests_shed_total",
		Help: "Requests answered 503 after waiting for a turn under ENROLLKIT_MAX_IN_FLIGHT until their deadline.",
	})
	reg.MustRegister(m.requests, m.duration, m.guesses, m.shed)
	return m
}

// observe logs each request as one JSON line and counts it. Only the route
// template is logged, never the query string or body, so passcodes and
// tokens cannot leak through the access log.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route, status := routeOf(c), c.Writer.Status()
	s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("request_id", requestID(c)),
		slog.String("client_ip", c.ClientIP()),
		slog.Int("bytes", c.Writer.Size()),
	}
	// A 401 has no actor, even when the token named one (a pending caller
	// refused by its row).
	if a := lms.ActorFromContext(c.Request.Context()); a != nil && status != http.StatusUnauthorized {
		attrs = append(attrs, slog.String("actor_id", a.ID))
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

// recoverPanics turns a panic into a 500 problem document and logs the stack
// with the request ID.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic", "request_id", requestID(c), "route", routeOf(c),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				writeError(c, errPanic)
			}
			c.Abort()
		}
	}()
	c.Next()
}

// apiHeaders are the headers every JSON API response carries, in canonical
// form so that they are copied in without canonicalizing or allocating per
// request. The values are shared: headers are only ever replaced, never
// changed in place.
var apiHeaders = http.Header{
	"X-Content-Type-Options":       {"nosniff"},
	"X-Frame-Options":              {"DENY"},
	"Referrer-Policy":              {"no-referrer"},
	"Cross-Origin-Resource-Policy": {"same-origin"},
}

var (
	apiCSP = []string{"default-src 'none'; frame-ancestors 'none'"}
	hsts   = []string{"max-age=63072000; includeSubDomains"}
)

// securityHeaders sets the headers every JSON API response should carry.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	for k, v := range apiHeaders {
		h[k] = v
	}
	if !strings.HasPrefix(c.Request.URL.Path, "/swagger/") {
		h["Content-Security-Policy"] = apiCSP
	}
	if c.Request.TLS != nil {
		h["Strict-Transport-Security"] = hsts
	}
	c.Next()
}

var noStore = []string{"no-store"}

// privateAnswers marks every answer of an authenticated route no-store:
// users, redemptions, deliveries and enrollments name people, and a shared
// or browser cache must not keep them for the next user of the machine.
func privateAnswers(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = noStore
	c.Next()
}

// corsFor allows the configured origins only. With none configured, no CORS
// headers are sent and browsers keep other origins out.
func corsFor(origins []string) gin.HandlerFunc {
	if len(origins) == 0 {
		return func(c *gin.Context) { c.Next() }
	}
	cfg := cors.Config{
		AllowMethods:     []string{"GET", "POST", "PATCH", "DELETE", "OPTIONS"},
		AllowHeaders:     []string{"Authorization", "Content-Type", "X-Request-ID", "Accept"},
		ExposeHeaders:    []string{"Link", "Retry-After", "X-Request-ID", "Location", "RateLimit", "RateLimit-Policy"},
		AllowCredentials: false,
		MaxAge:           12 * time.Hour,
	}
	for _, o := range origins {
		if o == "*" {
			cfg.AllowAllOrigins = true
		}
	}
	if cfg.AllowAllOrigins {
		return cors.New(cfg)
	}
	cfg.AllowOrigins = origins
	allowed := cors.New(cfg)
	return func(c *gin.Context) {
		// Another origin gets no CORS headers, so the browser keeps the
		// answer from its page; the request itself is served as usual.
		if o := c.GetHeader("Origin"); o != "" && !slices.Contains(origins, o) {
			c.Next()
			return
		}
		allowed(c)
	}
}

// limitBody refuses bodies over limit: at once when Content-Length says so,
// otherwise when reading passes the limit.
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			abortWith(c, lms.ETooLarge, "the body is larger than %d bytes", limit)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}
