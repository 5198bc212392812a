package api

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// ReadRoute mounts h on GET path as a new manager read would be: behind the
// reads' authentication, which reads the caller's row with the handler's
// first query, and the managers' gate.
func (s *Server) ReadRoute(path string, h gin.HandlerFunc) {
	s.engine.GET(path, privateAnswers, s.authenticateReads, requireRole(lms.RoleFullManager, lms.RoleLimitedManager), h)
}

// Every JSON body the tests receive is also encoded with encoding/json,
// and must be byte for byte the same.
func init() {
	checkEncoding = func(v any, got []byte) {
		want, err := json.Marshal(v)
		if err != nil || !bytes.Equal(want, got) {
			panic(fmt.Sprintf("goccy/go-json and encoding/json differ for %T:\n%s\n%s (%v)", v, got, want, err))
		}
	}
}
