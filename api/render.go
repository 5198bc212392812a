package api

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	gojson "github.com/goccy/go-json"
)

// writeJSON answers status with v as JSON. It encodes with goccy/go-json,
// which compiles an encoder per type instead of walking it by reflection
// on every call (encoding/json took a sixth of a course page's CPU, half of
// it formatting timestamps through their Marshaler), and sends the body
// with its Content-Length, so a page is not chunked into one write per
// 4 KiB. The output is encoding/json's: the same escaping of <, > and &,
// the same field names and omissions.
//
// The body is encoded into a buffer kept for the next response: a page of
// 50 groups is 16 KB, a fifth of what its request allocated when each body
// was a fresh slice.
func writeJSON(c *gin.Context, status int, v any) {
	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxKeptBody {
			bodies.Put(buf)
		}
	}()
	if err := gojson.NewEncoder(buf).Encode(v); err != nil {
		writeError(c, err)
		return
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n")) // Encode ends the value with a newline
	if checkEncoding != nil {
		checkEncoding(v, b)
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	c.Status(status)
	if status == http.StatusNoContent || c.Request.Method == http.MethodHead {
		return
	}
	_, _ = c.Writer.Write(b)
}

// bodies are the buffers responses are encoded into; one an unusually
// large answer grew past maxKeptBody is left to the collector.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxKeptBody = 256 << 10

// checkEncoding, set by the package's tests, compares every body with
// encoding/json's.
var checkEncoding func(v any, encoded []byte)

// stamp writes a time as a response field: RFC 3339 with as many
// fractional digits as needed, exactly as time.Time's MarshalJSON does, but
// as a plain string, which the encoder copies instead of calling a
// marshaler and re-validating its output for every timestamp of a page
// (two thirds of a page's encoding time went there).
func stamp(t time.Time) string { return t.Format(time.RFC3339Nano) }

// stampPtr is stamp for an optional time.
func stampPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := stamp(*t)
	return &s
}
