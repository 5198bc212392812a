// Package mail renders enrollkit's emails and delivers them.
//
// Rendering (RenderInvitation) is pure and deterministic, so the API can show
// a manager exactly the bytes that will later be sent. Delivery goes through
// the Sender interface, implemented by SMTPSender for real relays and by
// FileSender, which writes .eml files for development without a mail server.
// IsPermanent tells a job queue which delivery failures are worth retrying,
// and IsOutcomeUnknown which ones it must not retry at all: those after the
// message was handed to the relay, which may have accepted it.
//
// The package depends only on the standard library and
// github.com/wneessen/go-mail; it knows nothing about HTTP, storage or the
// domain packages, so callers map their own types onto Invitation.
package mail
