package client

import (
	"context"
	"net/http"
)

// BearerToken returns a request editor that sends token, an access token
// from /auth/login or /oauth/token, as the request's bearer credentials.
// Pass it to one call to sign that call alone.
func BearerToken(token string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// WithBearerToken signs every request of the client with token.
func WithBearerToken(token string) ClientOption {
	return WithRequestEditorFn(BearerToken(token))
}
