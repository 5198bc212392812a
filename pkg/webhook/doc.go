// Package webhook sends Standard Webhooks (https://www.standardwebhooks.com/)
// to the endpoint URLs that Full Managers register for their organizations.
//
// An endpoint URL is chosen by a customer and fetched by the server, so every
// part of the package is written against server-side request forgery: Guard
// checks a URL when it is registered and again, address by address, when each
// connection is dialed, so a name that changes its answer in between (DNS
// rebinding) still cannot reach the server's own network. Sign and Send
// produce the signed request a receiver can verify with any Standard Webhooks
// library.
//
// It depends only on the standard library and knows nothing about storage,
// retries or scheduling; callers decide when a message is sent and what
// becomes of its Result.
package webhook
