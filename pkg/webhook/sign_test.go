package webhook_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// TestSignStandardVector checks Sign against the example the Standard
// Webhooks specification publishes.
func TestSignStandardVector(t *testing.T) {
	t.Parallel()
	got, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestNewSecretRoundTrip(t *testing.T) {
	t.Parallel()
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	encoded, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		t.Fatalf("NewSecret() = %q, want the whsec_ prefix", secret)
	}
	if key, err := base64.StdEncoding.DecodeString(encoded); err != nil || len(key) != 32 {
		t.Fatalf("NewSecret() key decodes to %d bytes, %v; want 32", len(key), err)
	}

	id, ts, body := "evt_01", time.Now(), []byte(`{"type":"user.created"}`)
	sig, err := webhook.Sign(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	if err := wh.Verify(body, h); err != nil {
		t.Errorf("the library refuses our signature: %v", err)
	}
	if err := wh.Verify([]byte(`{"type":"user.deleted"}`), h); err == nil {
		t.Error("the library accepts our signature for another body")
	}
}

func TestNewSecretIsRandom(t *testing.T) {
	t.Parallel()
	a, errA := webhook.NewSecret()
	b, errB := webhook.NewSecret()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a == b {
		t.Errorf("two secrets are both %q", a)
	}
}

func TestSignMalformedSecret(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{
		"",
		"whsec_",
		"whsec_not base64!",
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",      // the prefix is missing
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", // cut short
	} {
		sig, err := webhook.Sign(secret, "evt_01", time.Unix(1, 0), []byte("{}"))
		if err == nil {
			t.Errorf("Sign with secret %q = %q, want an error", secret, sig)
			continue
		}
		if secret != "" && strings.Contains(err.Error(), secret) {
			t.Errorf("the error %q repeats the secret", err)
		}
	}
}
