package api

import (
	"context"
	_ "embed"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	swaggerFiles "github.com/swaggo/files/v2"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status" example:"ok"`
	// Why the process is not ready; absent when it is.
	Reason string `json:"reason,omitempty"`
} // @name Health

// healthz godoc
//
//	@Summary     Liveness: the process is up
//	@Description Public: no token. Always 200 while the process serves HTTP; it asks nothing of the database (see /readyz for that).
//	@Tags        operations
//	@Produce     json
//	@Success     200 {object} Health
//	@ID          getHealth
//	@Router  /healthz [get]
func (s *Server) healthz(c *gin.Context) {
	writeJSON(c, http.StatusOK, Health{Status: "ok"})
}

// readyz godoc
//
//	@Summary     Readiness: the database answers and every migration is applied
//	@Description Public: no token. 200 when the database answered within 2 seconds and every migration is applied; otherwise 503 with status unavailable and a reason that names no host, query or error, the details being logged.
//	@Tags        operations
//	@Produce     json
//	@Success     200 {object} Health
//	@Failure     503 {object} Health "the database is unreachable or migrations are pending, or the process is shutting down"
//	@ID          getReadiness
//	@Router  /readyz [get]
func (s *Server) readyz(c *gin.Context) {
	if s.draining.Load() {
		writeJSON(c, http.StatusServiceUnavailable, Health{Status: "unavailable", Reason: "shutting down"})
		return
	}
	if s.Ready != nil {
		// A stalled database is reported within a second.
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.log.Warn("not ready", "error", err.Error())
			writeJSON(c, http.StatusServiceUnavailable, Health{Status: "unavailable", Reason: "database unreachable or migrations pending"})
			return
		}
	}
	writeJSON(c, http.StatusOK, Health{Status: "ok"})
}

// MetricsHandler serves the Prometheus metrics of the server. It is not a
// route of the API: the process serves it on its own address
// (ENROLLKIT_METRICS_ADDR, loopback by default), so that the API's clients
// never see the routes, counts and state it describes.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	return mux
}

// openapi godoc
//
//	@Summary     The OpenAPI 3 document of this API
//	@Description Public: no token. This document, as built into the binary; Swagger UI shows it at /swagger/index.html.
//	@Tags        operations
//	@Produce     json
//	@Success     200 {object} object
//	@Failure     404 {object} Problem "not_found: no OpenAPI document was built into this binary"
//	@ID          getOpenAPI
//	@Router  /openapi.json [get]
func (s *Server) openapi(c *gin.Context) {
	if len(s.OpenAPI) == 0 {
		abortWith(c, lms.ENotFound, "no OpenAPI document was built into this binary")
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.OpenAPI)
}

// swaggerUI serves Swagger UI pointed at /openapi.json: the files of
// swaggo/files/v2 (embedded in the binary, served as they are by
// http.FileServerFS) but its initializer, which is this server's own
// (swaggerui/swagger-initializer.js). The page's policy lets it run only its
// own scripts and reach only this origin.
func (s *Server) swaggerUI() gin.HandlerFunc {
	files := http.StripPrefix("/swagger/", http.FileServerFS(swaggerFiles.FS))
	index, _ := fs.ReadFile(swaggerFiles.FS, "index.html")
	return func(c *gin.Context) {
		// Only the UI's own files (one flat directory, so a name with a
		// slash is none of them); anything else is a problem document like
		// every other 404.
		name := strings.TrimPrefix(c.Request.URL.Path, "/swagger/")
		if name == "" {
			c.Redirect(http.StatusFound, "/swagger/index.html") // the UI's own address
			return
		}
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", swaggerUIPolicy)
		h.Set("Cache-Control", "public, max-age=3600")
		if name == "swagger-initializer.js" {
			c.Data(http.StatusOK, "text/javascript; charset=utf-8", swaggerInitializer)
			return
		}
		if fi, err := fs.Stat(swaggerFiles.FS, name); err != nil || fi.IsDir() {
			h.Del("Content-Security-Policy")
			h.Del("Cache-Control")
			abortWith(c, lms.ENotFound, "no such Swagger UI file")
			return
		}
		if name == "index.html" {
			// FileServerFS answers index.html with a redirect to the
			// directory; the page is served under its own name instead.
			c.Data(http.StatusOK, "text/html; charset=utf-8", index)
			return
		}
		files.ServeHTTP(c.Writer, c.Request)
	}
}

// swaggerUIPolicy is Swagger UI's Content-Security-Policy: its scripts and
// styles from this server only (it sets inline style attributes, hence
// 'unsafe-inline' for styles alone), its icons inline, and calls to this
// origin only ("Try it out").
const swaggerUIPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed swaggerui/swagger-initializer.js
var swaggerInitializer []byte
