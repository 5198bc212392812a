package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

// testWait bounds every wait in this package's tests. It is well above the
// SMTP client's own limits (10 s for the dial, then 10 s for each later stage;
// the tests that wait for the reply to the end of the data, 10 minutes in
// production, set a limit of seconds), so a slow but working exchange still
// reports its own error, and far below
// go test's 10-minute timeout: whatever never ends fails the test that waits
// for it, with a message, instead of hanging the package until the timeout
// panic, which prints a goroutine dump and drops every message the tests
// logged.
const testWait = time.Minute

// await returns the next value received from ch, or fails tb, naming what it
// waited for, when nothing comes within testWait.
func await[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	timer := time.NewTimer(testWait)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		tb.Fatalf("gave up after %v waiting for %s", testWait, what)
		var zero T
		return zero
	}
}

// send calls s.Send and waits at most testWait for it to return. Send looks
// at ctx only while dialling and between commands, so ctx alone cannot bound
// an SMTP send.
// On timeout the send is left running; it only writes to a buffered channel,
// so it cannot touch tb after the test ends.
func send(tb testing.TB, s Sender, ctx context.Context, m Message) error {
	tb.Helper()
	result := make(chan error, 1)
	go func() { result <- s.Send(ctx, m) }()
	return await(tb, result, "Send to return")
}

// parsedEmail is what a recipient's mail client would show of a message.
type parsedEmail struct {
	From, To, Subject, MessageID string
	Text, HTML                   string
}

// mustParseEmail reads raw as an RFC 5322 message and decodes its
// multipart/alternative parts, failing the test on anything malformed.
func mustParseEmail(tb testing.TB, raw []byte) parsedEmail {
	tb.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		tb.Fatalf("parsing message: %v\n%s", err, raw)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		tb.Fatalf("decoding Subject: %v", err)
	}
	got := parsedEmail{
		From:      msg.Header.Get("From"),
		To:        msg.Header.Get("To"),
		Subject:   subject,
		MessageID: msg.Header.Get("Message-ID"),
	}
	if _, err := msg.Header.Date(); err != nil {
		tb.Errorf("Date header: %v", err)
	}

	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		tb.Fatalf("Content-Type: %v", err)
	}
	if mediaType != "multipart/alternative" {
		tb.Fatalf("Content-Type is %q, want multipart/alternative", mediaType)
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		// NextPart undoes the quoted-printable transfer encoding.
		part, err := parts.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("reading part: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			tb.Fatalf("reading part body: %v", err)
		}
		partType, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			tb.Fatalf("part Content-Type: %v", err)
		}
		switch partType {
		case "text/plain":
			got.Text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html":
			got.HTML = strings.ReplaceAll(string(body), "\r\n", "\n")
		default:
			tb.Errorf("unexpected part %q", partType)
		}
	}
	if got.Text == "" || got.HTML == "" {
		tb.Fatalf("message lacks a text or HTML part:\n%s", raw)
	}
	return got
}

// mustRenderMessage renders the test invitation into a message from a
// manager's address to a learner's.
func mustRenderMessage(tb testing.TB) Message {
	tb.Helper()
	r, err := RenderInvitation(testInvitation())
	if err != nil {
		tb.Fatalf("RenderInvitation: %v", err)
	}
	return Message{
		From:      "Enrollkit <no-reply@enrollkit.example>",
		To:        "grace@example.com",
		Subject:   r.Subject,
		Text:      r.Text,
		HTML:      r.HTML,
		MessageID: "delivery-42@enrollkit.example",
	}
}

// mustTestTLS returns a server configuration with a fresh self-signed
// certificate for 127.0.0.1 and a client configuration that trusts only it,
// so TLS paths are tested with verification on.
func mustTestTLS(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generating key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "enrollkit test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("creating certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parsing certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client
}
