package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// userAgent names the sender, so a receiver's logs tell webhooks from other
// traffic; the number changes if the requests ever change shape.
const userAgent = "enrollkit-webhooks/1"

// Message is one webhook request.
type Message struct {
	// ID is the webhook-id header: the event's ID, the same on every retry so
	// receivers can deduplicate.
	ID string
	// Timestamp is the webhook-timestamp header, in unix seconds; receivers
	// refuse one far from their clock, which stops replays.
	Timestamp time.Time
	// Body is the JSON payload, signed byte for byte.
	Body []byte
	// Secrets each sign the message; the webhook-signature header lists one
	// "v1,..." per secret, space-separated, so that during a secret rotation
	// a receiver holding either the old or the new secret accepts it.
	Secrets []string
}

// MaxResponseRead bounds how much of a receiver's answer is read: enough to
// finish a short answer, so its connection can be reused, while a receiver
// that streams megabytes costs no more than this. ResponseSnippetLen is how
// much of it is kept in the attempt log, for the endpoint's owner to see.
const (
	MaxResponseRead    = 4 << 10
	ResponseSnippetLen = 512
)

// Result is one attempt's outcome, as the attempt log keeps it.
type Result struct {
	// StatusCode is the answer's status, 0 when no answer came.
	StatusCode int
	// Duration is from the start of the attempt to the answer's body read.
	Duration time.Duration
	// Response is the first ResponseSnippetLen bytes of the answer's body,
	// valid UTF-8 (invalid bytes replaced).
	Response string
	// Err is "" on a 2xx answer and otherwise why the attempt failed, in
	// words safe to show the endpoint's owner: "status 500", "timeout after
	// 10s", "refused: resolves to a private address (10.0.0.1)", "redirect
	// not followed (status 302)", or a connection error. It never contains a
	// secret, nor the URL, whose query may hold the receiver's own token.
	Err string
}

// OK reports whether the receiver accepted the message, by a 2xx answer.
func (r Result) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// Send POSTs m to url with client, which should come from Guard.Client, and
// reports the outcome. The request carries Content-Type: application/json,
// User-Agent: enrollkit-webhooks/1 and the Standard Webhooks headers
// webhook-id, webhook-timestamp and webhook-signature. At most
// MaxResponseRead bytes of the answer are read before it is closed.
//
// Send returns no error: every failure, a malformed secret included, is in
// Result.Err, since each is one more failed attempt to log and retry.
func Send(ctx context.Context, client *http.Client, url string, m Message) Result {
	start := time.Now()
	req, reason := newRequest(ctx, url, m)
	if reason != "" {
		return Result{Err: reason}
	}
	resp, err := client.Do(req)
	if err != nil {
		elapsed := time.Since(start)
		return Result{Duration: elapsed, Err: describeError(ctx, client, err, elapsed)}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseRead))
	_ = resp.Body.Close()
	return Result{
		StatusCode: resp.StatusCode,
		Duration:   time.Since(start),
		Response:   snippet(body, ResponseSnippetLen),
		Err:        describeStatus(resp.StatusCode),
	}
}

// newRequest builds the signed request, or says why it cannot be sent.
func newRequest(ctx context.Context, url string, m Message) (*http.Request, string) {
	if len(m.Secrets) == 0 {
		// An unsigned message would teach receivers to accept unsigned ones.
		return nil, "no signing secret"
	}
	signatures := make([]string, len(m.Secrets))
	for i, secret := range m.Secrets {
		sig, err := Sign(secret, m.ID, m.Timestamp, m.Body)
		if err != nil {
			return nil, "malformed signing secret"
		}
		signatures[i] = sig
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Body))
	if err != nil {
		return nil, "invalid URL"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(m.Timestamp.Unix(), 10))
	req.Header.Set("webhook-signature", strings.Join(signatures, " "))
	return req, ""
}

// describeStatus is Result.Err for an answer with the given status.
func describeStatus(code int) string {
	switch {
	case code >= 200 && code < 300:
		return ""
	case code >= 300 && code < 400:
		return fmt.Sprintf("redirect not followed (status %d)", code)
	default:
		return "status " + strconv.Itoa(code)
	}
}

// describeError is Result.Err for a request that got no answer.
func describeError(ctx context.Context, client *http.Client, err error, elapsed time.Duration) string {
	var refused *URLError
	if errors.As(err, &refused) {
		return "refused: " + refused.Reason
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return "canceled before an answer came"
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		limit := client.Timeout
		if limit <= 0 || ctx.Err() != nil {
			// The caller's deadline came first, so the client's is not the
			// one that ran out.
			limit = elapsed.Round(time.Millisecond)
		}
		return "timeout after " + limit.String()
	}
	// The client's error begins by quoting the URL; what follows is the cause.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return err.Error()
}

// snippet returns at most n bytes of body as valid UTF-8, invalid bytes
// replaced and the cut made between characters.
func snippet(body []byte, n int) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
