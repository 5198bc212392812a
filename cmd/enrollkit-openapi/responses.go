package main

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Headers the API sends on many answers, described once in
// components.headers and referenced from each response.
var sharedHeaders = map[string]*openapi3.Header{
	"Retry-After": header("Seconds to wait before trying again.", openapi3.NewInt32Schema().WithMin(1)),
	"WWW-Authenticate": header(`The scheme to authenticate with: Bearer realm="enrollkit" (RFC 6750), or Basic on /oauth/token for client credentials sent that way.`,
		openapi3.NewStringSchema().WithMaxLength(200)),
	"Link": header(`The next page, when there is one: <…?cursor=…>; rel="next" (RFC 8288). The same cursor is the body's next_cursor.`,
		openapi3.NewStringSchema().WithMaxLength(4096)),
	"Location": header("The path of the resource the request made.", openapi3.NewStringSchema().WithMaxLength(200)),
	"RateLimit-Policy": header(`The throttles that judged this request (IETF RateLimit header fields): for each, its name and the failures q it allows in w seconds, e.g. "redeem-ip";q=10;w=900. The throttles count failures (wrong passcodes, wrong passwords, taken passcodes), never successes. Sent once the request reaches them; a request refused earlier (400, 413, 415) carries none.`,
		openapi3.NewStringSchema().WithMaxLength(500)),
	"Idempotent-Replayed": header("true on the answer to a repeated request with an Idempotency-Key: the first request's answer, replayed; absent on answers to requests that ran.",
		openapi3.NewStringSchema().WithEnum("true")),
	"RateLimit": header(`Where the client stands with each throttle of RateLimit-Policy: the failures r it has left, this request counted as one until it is answered, and the seconds t until its failures are all forgotten, e.g. "redeem-ip";r=9;t=90. At r=0 the next failure is refused with 429 and Retry-After.`,
		openapi3.NewStringSchema().WithMaxLength(500)),
}

// rateLimited are the operations whose attempts the API's throttles judge
// (api's guards and passcode throttle); their answers carry RateLimit and
// RateLimit-Policy, and the document marks them x-rate-limited.
var rateLimited = map[string]bool{
	"login": true, "refreshTokens": true, "issueClientToken": true,
	"previewRedemption": true, "redeemPasscode": true, "verifyRedemption": true,
	"createInvitation": true, "updateInvitation": true,
	"getEnrollPage": true, "submitEnrollPage": true, "submitVerifyPage": true,
}

func header(description string, schema *openapi3.Schema) *openapi3.Header {
	return &openapi3.Header{Parameter: openapi3.Parameter{Description: description, Schema: openapi3.NewSchemaRef("", schema)}}
}

func headerRef(name string) *openapi3.HeaderRef {
	return &openapi3.HeaderRef{Ref: "#/components/headers/" + name, Value: sharedHeaders[name]}
}

// documentProblems gives every operation the headers of its answers: 401
// (which every operation that needs credentials can answer) comes with
// WWW-Authenticate, 429 and 503 with Retry-After, a 201 with Location; lists
// send Link and reference the shared paging parameters. Each operation's
// other problems are in its handler's annotations.
func documentProblems(doc *openapi3.T) {
	if doc.Components.Headers == nil {
		doc.Components.Headers = openapi3.Headers{}
	}
	for name, h := range sharedHeaders {
		doc.Components.Headers[name] = &openapi3.HeaderRef{Value: h}
	}
	problem := openapi3.NewSchemaRef("#/components/schemas/Problem", doc.Components.Schemas["Problem"].Value)
	add := func(op *openapi3.Operation, status int, description string) {
		if op.Responses.Value(strconv.Itoa(status)) == nil {
			op.Responses.Set(strconv.Itoa(status), &openapi3.ResponseRef{Value: openapi3.NewResponse().
				WithDescription(description).WithContent(openapi3.Content{"application/problem+json": openapi3.NewMediaType().WithSchemaRef(problem)})})
		}
	}
	for path, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) > 0 {
				add(op, http.StatusUnauthorized, "unauthorized: no valid access token")
			}
			if path != "/healthz" {
				// The request deadline and the in-flight bound apply to
				// every operation but the liveness probe.
				add(op, http.StatusServiceUnavailable, "unavailable: the database did not answer within the request's "+
					"deadline, or the server is serving as many requests as it may; retry after Retry-After")
			}
			for status, ref := range op.Responses.Map() {
				r := ref.Value
				if r == nil {
					continue
				}
				set := func(name string) {
					if r.Headers == nil {
						r.Headers = openapi3.Headers{}
					}
					r.Headers[name] = headerRef(name)
				}
				if rateLimited[op.OperationID] && (strings.HasPrefix(status, "2") || strings.HasPrefix(status, "4")) {
					set("RateLimit-Policy")
					set("RateLimit")
				}
				switch status {
				case "401":
					if r.Content.Get("text/html") == nil { // a page asks for a password, not a token
						set("WWW-Authenticate")
					}
				case "429", "503":
					set("Retry-After")
				case "201":
					set("Location")
				}
			}
			if rateLimited[op.OperationID] {
				op.Extensions = map[string]any{"x-rate-limited": true}
			}
			pageParameters(op)
		}
	}
}

// pageParameters replaces a list's limit and cursor with the shared ones and
// documents the Link header of its page.
func pageParameters(op *openapi3.Operation) {
	paged := false
	for i, p := range op.Parameters {
		if p.Value == nil || p.Value.In != openapi3.ParameterInQuery {
			continue
		}
		switch p.Value.Name {
		case "limit":
			op.Parameters[i] = &openapi3.ParameterRef{Ref: "#/components/parameters/Limit", Value: p.Value}
		case "cursor":
			op.Parameters[i] = &openapi3.ParameterRef{Ref: "#/components/parameters/Cursor", Value: p.Value}
			paged = true
		}
	}
	if ok := op.Responses.Value("200"); paged && ok != nil && ok.Value != nil {
		if ok.Value.Headers == nil {
			ok.Value.Headers = openapi3.Headers{}
		}
		ok.Value.Headers["Link"] = headerRef("Link")
	}
}

// sharePageParameters puts the first list's limit and cursor (after
// applyLimits) in components.parameters, with one description of paging.
func sharePageParameters(doc *openapi3.T) {
	if doc.Components.Parameters == nil {
		doc.Components.Parameters = openapi3.ParametersMap{}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				switch {
				case p.Ref == "#/components/parameters/Limit":
					p.Value.Description = "Items per page (default 50)."
					doc.Components.Parameters["Limit"] = &openapi3.ParameterRef{Value: p.Value}
				case p.Ref == "#/components/parameters/Cursor":
					p.Value.Description = "Opaque: the previous page's next_cursor (also in its Link rel=\"next\" header). Lists are keyset-paginated, so a page never skips or repeats an item when others are added; a cursor is valid only with the sort it was made for."
					doc.Components.Parameters["Cursor"] = &openapi3.ParameterRef{Value: p.Value}
				}
			}
		}
	}
}

// documentIdempotency gives every signed-in POST the Idempotency-Key header
// (api's idempotent middleware), its problems and the Idempotent-Replayed
// header of its answers. Run before documentProblems, which adds the
// Retry-After of the 409 and the Location of a 201.
func documentIdempotency(doc *openapi3.T) {
	if doc.Components.Parameters == nil {
		doc.Components.Parameters = openapi3.ParametersMap{}
	}
	key := &openapi3.Parameter{Name: "Idempotency-Key", In: openapi3.ParameterInHeader, Description: "Makes the request safe to retry: " +
		"the first request with a key runs and its answer is kept for 24 hours; the same request again (same caller, key, path and body) " +
		"gets that answer, with Idempotent-Replayed: true, without running again. The key with another request is 422 " +
		"idempotency_key_reused; while the first request runs, 409 idempotency_in_progress with Retry-After. Answers asking to try again " +
		"(401, 403, 408, 429, 5xx) are not kept. A UUID per logical request is a good key. An answer that carried a credential " +
		"(an integration client's secret) is kept without it: its repeat is 409 naming what the first request made.",
		Schema: openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(255).WithPattern(`^[!-~]+$`))}
	doc.Components.Parameters["IdempotencyKey"] = &openapi3.ParameterRef{Value: key}
	problem := openapi3.NewSchemaRef("#/components/schemas/Problem", doc.Components.Schemas["Problem"].Value)
	add := func(op *openapi3.Operation, status int, description string) {
		if r := op.Responses.Value(strconv.Itoa(status)); r != nil && r.Value != nil {
			d := ""
			if r.Value.Description != nil {
				d = *r.Value.Description + "; "
			}
			r.Value.WithDescription(d + description)
			return
		}
		op.Responses.Set(strconv.Itoa(status), &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription(description).WithContent(openapi3.Content{"application/problem+json": openapi3.NewMediaType().WithSchemaRef(problem)})})
	}
	for _, item := range doc.Paths.Map() {
		op := item.Post
		if op == nil || op.Security == nil || len(*op.Security) == 0 {
			continue
		}
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Ref: "#/components/parameters/IdempotencyKey", Value: key})
		add(op, http.StatusBadRequest, "an Idempotency-Key that is not 1 to 255 visible ASCII characters")
		add(op, http.StatusConflict, "idempotency_in_progress: a request with this Idempotency-Key is still running")
		add(op, http.StatusUnprocessableEntity, "idempotency_key_reused: the Idempotency-Key was used with another request in the last 24 hours")
		for status, ref := range op.Responses.Map() {
			if r := ref.Value; r != nil && (strings.HasPrefix(status, "2") || strings.HasPrefix(status, "4")) {
				if r.Headers == nil {
					r.Headers = openapi3.Headers{}
				}
				r.Headers["Idempotent-Replayed"] = headerRef("Idempotent-Replayed")
				if status == "409" {
					r.Headers["Retry-After"] = headerRef("Retry-After")
				}
			}
		}
	}
}
