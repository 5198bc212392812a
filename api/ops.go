package api

import (
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	swaggerFiles "github.com/swaggo/files/v2"
	ginSwagger "github.com/swaggo/gin-swagger"
	"golang.org/x/net/webdav"

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
//	@Failure     503 {object} Health "the database is unreachable or migrations are pending"
//	@ID          getReadiness
//	@Router  /readyz [get]
func (s *Server) readyz(c *gin.Context) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
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

// swaggerUI serves Swagger UI pointed at /openapi.json. Its files are read
// from the binary (swaggo/files/v2 embeds them): the first version of that
// module wrote all of them, 7.7 MB, into an in-memory file system at start,
// a live heap the collector then let double.
func (s *Server) swaggerUI() gin.HandlerFunc {
	files := &webdav.Handler{FileSystem: readOnlyFS{http.FS(swaggerFiles.FS)}, LockSystem: webdav.NewMemLS()}
	ui := ginSwagger.WrapHandler(files, ginSwagger.URL("/openapi.json"))
	// gin-swagger takes the prefix it serves files under from the first
	// request it sees, for good: a first GET /swagger/x/swagger-ui.css
	// would break every file after it. It sees the canonical one first.
	prime, _ := gin.CreateTestContext(&discardResponse{})
	prime.Request = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/swagger/index.html"},
		RequestURI: "/swagger/index.html", Header: http.Header{}}
	ui(prime)
	return func(c *gin.Context) {
		// Only the UI's own files (one flat directory, so a name with a
		// slash is none of them); anything else is a problem document like
		// every other 404.
		name := strings.TrimPrefix(c.Request.URL.Path, "/swagger/")
		if name == "" {
			c.Redirect(http.StatusFound, "/swagger/index.html") // the UI's own address
			return
		}
		if fi, err := fs.Stat(swaggerFiles.FS, name); err != nil || fi.IsDir() {
			abortWith(c, lms.ENotFound, "no such Swagger UI file")
			return
		}
		ui(c)
	}
}

// discardResponse is a ResponseWriter that keeps nothing.
type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (*discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (*discardResponse) WriteHeader(int)             {}

// readOnlyFS is the webdav.FileSystem gin-swagger serves files from, over
// a read-only http.FileSystem. gin-swagger answers only GET.
type readOnlyFS struct{ fs http.FileSystem }

func (readOnlyFS) Mkdir(context.Context, string, os.FileMode) error { return os.ErrPermission }
func (readOnlyFS) RemoveAll(context.Context, string) error          { return os.ErrPermission }
func (readOnlyFS) Rename(context.Context, string, string) error     { return os.ErrPermission }

func (r readOnlyFS) OpenFile(_ context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, os.ErrPermission
	}
	f, err := r.fs.Open(name)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{f}, nil
}

func (r readOnlyFS) Stat(_ context.Context, name string) (os.FileInfo, error) {
	f, err := r.fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

type readOnlyFile struct{ http.File }

func (readOnlyFile) Write([]byte) (int, error) { return 0, os.ErrPermission }
