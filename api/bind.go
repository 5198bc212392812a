package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// bindJSON decodes the request body into dst strictly: the content type must
// be JSON, unknown fields are refused, exactly one value is allowed, and a
// body over the size limit (even one hidden after the object) is 413. On
// failure it writes the problem and returns false.
func bindJSON(c *gin.Context, dst any) bool {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			abortWith(c, "unsupported_media", "send the body as application/json")
			return false
		}
	}
	if err := decodeJSON(c.Request.Body, dst); err != nil {
		writeError(c, err)
		return false
	}
	return true
}

// decodeJSON is bindJSON without the HTTP parts.
func decodeJSON(body io.Reader, dst any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		// Read what follows the value: only white space may, and reading it
		// makes the size limit count every byte of the body.
		rest, rerr := io.ReadAll(io.MultiReader(dec.Buffered(), body))
		if rerr != nil {
			err = rerr
		} else if len(bytes.TrimSpace(rest)) > 0 {
			return lms.Errorf(lms.EBadRequest, "the body must hold exactly one JSON value")
		}
	}
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &maxErr):
		return lms.Errorf(lms.ETooLarge, "the body is larger than %d bytes", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return lms.Errorf(lms.EBadRequest, "the body is empty; send a JSON object")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return lms.Errorf(lms.EBadRequest, "the body is not valid JSON")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return lms.Errorf(lms.EBadRequest, "the body must be a JSON object")
		}
		return lms.Errorf(lms.EBadRequest, "field %q must be of type %s", field, jsonType(typeErr.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return lms.Errorf(lms.EBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return lms.Errorf(lms.EBadRequest, "the body could not be read: %s", sanitize(err))
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "number"
	case goType == "bool":
		return "boolean"
	case goType == "string", strings.HasSuffix(goType, "Role"), strings.HasSuffix(goType, "Status"):
		return "string"
	}
	return "object"
}

func sanitize(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return fmt.Sprintf("%q", s)
}
