package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// settleFirst holds back a response to a pending caller (authenticateReads)
// until the caller's row has been judged: the first time the handler
// writes a status or a byte, it settles the caller (reading the row unless
// the store already read it with the handler's query) and checks its role
// against the route's. If the token no longer holds, or the role no longer
// admits the route, the handler's response is dropped, headers included,
// and the problem document sent instead.
type settleFirst struct {
	gin.ResponseWriter
	c       *gin.Context
	header  http.Header // the headers before the handler ran (a shallow copy: Set and Add never change the values it holds)
	pending lms.PendingCaller
	state   settleState
}

type settleState int

const (
	unsettled settleState = iota
	admitted
	refused
)

// settle judges the caller once and reports whether the handler's
// response may go out.
func (w *settleFirst) settle() bool {
	if w.state != unsettled {
		return w.state == admitted
	}
	err := w.judge()
	if err == nil {
		w.state = admitted
		return true
	}
	w.state = refused
	h := w.ResponseWriter.Header()
	clear(h)
	for k, v := range w.header {
		h[k] = v
	}
	// The problem goes out through the real writer; whatever the handler
	// writes after this is dropped.
	w.c.Writer = w.ResponseWriter
	writeError(w.c, err)
	w.c.Writer = w
	return false
}

func (w *settleFirst) judge() error {
	a, err := w.pending.Settle(w.c.Request.Context())
	if err != nil {
		return err
	}
	if roles, ok := routeRoles(w.c.Request.Context()); ok && !hasRole(a, roles) {
		return errInsufficientRole(roles)
	}
	return nil
}

func (w *settleFirst) WriteHeader(code int) {
	if w.settle() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *settleFirst) WriteHeaderNow() {
	if w.settle() {
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *settleFirst) Write(b []byte) (int, error) {
	if w.settle() {
		return w.ResponseWriter.Write(b)
	}
	return len(b), nil
}

func (w *settleFirst) WriteString(s string) (int, error) {
	if w.settle() {
		return w.ResponseWriter.WriteString(s)
	}
	return len(s), nil
}

func (w *settleFirst) Flush() {
	if w.settle() {
		w.ResponseWriter.Flush()
	}
}
