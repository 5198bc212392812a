package lms

// Limits of the text and lists the API accepts. The validation, its messages
// and the OpenAPI document's maxLength, maxItems and bounds all read these,
// so that what the document states is what the server enforces.
const (
	// MaxNameLen bounds the name of an organization, organization group,
	// user group, course, invitation or integration client.
	MaxNameLen = 200
	// MaxPersonNameLen bounds a person's first and last names.
	MaxPersonNameLen = 100
	// MaxCourseCodeLen bounds a course's code.
	MaxCourseCodeLen = 64
	// MaxDescriptionLen bounds a course's or user group's description.
	MaxDescriptionLen = 10_000
	// MaxEmailLen bounds an email address (RFC 5321's path limit less the
	// angle brackets).
	MaxEmailLen = 254
	// MaxDomainLen bounds a domain name (RFC 1035).
	MaxDomainLen = 253
	// MaxCursorLen bounds a list cursor as sent.
	MaxCursorLen = 2048
	// MaxTokenLen bounds an opaque credential as sent: a refresh token, a
	// verification token or a client secret. No credential the server
	// issues is longer, so a longer one is never valid.
	MaxTokenLen = 128
	// MaxScopeLen bounds the scope an integration client may ask for, which
	// the server ignores (a client's token carries its role).
	MaxScopeLen = 1000
)
