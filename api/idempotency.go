package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// Problem codes of the Idempotency-Key header.
const (
	codeIdempotencyReused     = "idempotency_key_reused"
	codeIdempotencyInProgress = "idempotency_in_progress"
)

// maxIdempotencyKey bounds an Idempotency-Key; a UUID needs 36 characters.
const maxIdempotencyKey = 255

// credentialAnswers are the routes whose answers carry a credential shown
// once, and its fields: the answer is kept without them, and a retry with
// the key is told what the first request made (409) instead of being shown
// the credential again.
var credentialAnswers = map[string][]string{
	"/api/v1/integration-clients":                 {"client_secret"},
	"/api/v1/webhook-endpoints":                   {"secret"},
	"/api/v1/webhook-endpoints/:id/rotate-secret": {"secret"},
}

// withoutCredentials returns a JSON object answer without fields; nil when
// it is not one.
func withoutCredentials(body []byte, fields []string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	for _, f := range fields {
		delete(m, f)
	}
	b, _ := json.Marshal(m)
	return b
}

// idempotent gives a signed-in caller's POST with an Idempotency-Key the
// semantics HTTP clients know from payment APIs: the first request runs and
// its answer is kept for lms.IdempotencyTTL; the same request again (the
// same caller, key, path and body) is answered the same, with
// Idempotent-Replayed: true, without running again; the key with another
// request is 422; while the first still runs, 409. Answers that say "try
// again" (401, 403, 408, 429 and 5xx) are not kept, so a retry with the
// key runs. The public POSTs (sign-in, tokens, redemptions) are not
// covered: their answers carry credentials, which are never stored, and a
// redemption's retry is a replay by itself.
func (s *Server) idempotent(c *gin.Context) {
	if c.Request.Method != http.MethodPost || s.Services.Idempotency == nil {
		c.Next() // reads, updates and deletes: nothing to look at
		return
	}
	key := c.GetHeader("Idempotency-Key")
	actor := lms.ActorFromContext(c.Request.Context())
	if key == "" || actor == nil {
		c.Next()
		return
	}
	if !validIdempotencyKey(key) {
		abortWith(c, lms.EBadRequest, "Idempotency-Key must be 1 to %d visible ASCII characters", maxIdempotencyKey)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			abortWith(c, lms.ETooLarge, "the body is larger than %d bytes", s.BodyLimit)
		} else {
			abortWith(c, lms.EBadRequest, "the body could not be read")
		}
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	ctx := c.Request.Context()
	scope := string(actor.Kind) + ":" + actor.ID
	ans, owner, err := s.Services.Idempotency.BeginIdempotent(ctx, scope, key, fingerprint(c.Request, body), s.idempotencyLease())
	switch {
	case errors.Is(err, lms.ErrIdempotencyReused):
		abortWith(c, codeIdempotencyReused, "this Idempotency-Key was used with another request (another path or body) "+
			"in the last 24 hours; use a new key for a new request")
		return
	case errors.Is(err, lms.ErrIdempotencyInProgress):
		c.Header("Retry-After", "1")
		abortWith(c, codeIdempotencyInProgress, "a request with this Idempotency-Key is still running; retry in a moment for its answer")
		return
	case err != nil:
		writeError(c, err) // which aborts
		return
	case ans != nil:
		replay(c, ans)
		return
	}
	rec := &recordingWriter{ResponseWriter: c.Writer}
	c.Writer = rec
	finished := false // false while a panic unwinds
	defer func() {
		c.Writer = rec.ResponseWriter
		// Recorded even if the request's deadline has passed: the change
		// it made is committed.
		ctx := context.WithoutCancel(ctx)
		status := rec.Status()
		var err error
		kept := finished && keepAnswer(status)
		if kept {
			a := lms.IdempotentAnswer{Status: status, ContentType: rec.Header().Get("Content-Type"), Location: rec.Header().Get("Location")}
			a.Body = rec.body.Bytes()
			if fields := credentialAnswers[c.FullPath()]; fields != nil {
				a.Body = withoutCredentials(a.Body, fields)
			}
			err = s.Services.Idempotency.FinishIdempotent(ctx, scope, key, owner, a)
		} else {
			err = s.Services.Idempotency.ReleaseIdempotent(ctx, scope, key, owner)
		}
		if err != nil {
			s.log.Warn("idempotency key: answer not recorded", "request_id", requestID(c), "kept", kept, "error", err.Error())
		}
	}()
	c.Next()
	finished = true
}

func (s *Server) idempotencyLease() time.Duration {
	return max(s.RequestTimeout, 10*time.Second) + 30*time.Second
}

// replay answers a repeated request with the first one's answer.
func replay(c *gin.Context, a *lms.IdempotentAnswer) {
	c.Header("Idempotent-Replayed", "true")
	if a.Location != "" {
		c.Header("Location", a.Location)
	}
	if credentialAnswers[c.FullPath()] != nil && a.Status < 300 {
		var made struct{ ID string }
		_ = json.Unmarshal(a.Body, &made)
		abortWith(c, lms.EConflict, "the request with this Idempotency-Key was made and answered %d, creating %q; its answer "+
			"carried a credential, which is shown only once and not kept", a.Status, made.ID)
		return
	}
	c.Data(a.Status, a.ContentType, a.Body)
	c.Abort()
}

// keepAnswer reports whether an answer of status is kept for the key's
// retries: every answer but those that ask to try again.
func keepAnswer(status int) bool {
	switch {
	case status >= 500, status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return false
	}
	return status >= 200
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > maxIdempotencyKey {
		return false
	}
	for i := range len(k) {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// fingerprint identifies a request for its key: method, path with query,
// content type and body.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// recordingWriter keeps a copy of the body it writes.
type recordingWriter struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
