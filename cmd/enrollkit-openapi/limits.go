package main

import (
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// constrain narrows a schema to what the server accepts.
type constrain func(*openapi3.Schema)

func text(minLen, maxLen int) constrain {
	return func(s *openapi3.Schema) {
		s.MinLength = uint64(minLen)
		s.MaxLength = openapi3.Uint64Ptr(uint64(maxLen))
	}
}

func email(s *openapi3.Schema) {
	s.Format = "email"
	s.MaxLength = openapi3.Uint64Ptr(lms.MaxEmailLen)
}

func count(minimum, maximum int) constrain {
	return func(s *openapi3.Schema) {
		s.Format = "int32"
		s.Min, s.Max = openapi3.Float64Ptr(float64(minimum)), openapi3.Float64Ptr(float64(maximum))
	}
}

func list(minItems, maxItems int, item constrain) constrain {
	return func(s *openapi3.Schema) {
		s.MinItems = uint64(minItems)
		s.MaxItems = openapi3.Uint64Ptr(uint64(maxItems))
		if item != nil && s.Items != nil && s.Items.Value != nil && s.Items.Ref == "" {
			item(s.Items.Value)
		}
	}
}

func uuid(s *openapi3.Schema) { s.Format = "uuid" }

// uuidLen is the length of a UUID in its canonical form, the only one the
// server writes.
const uuidLen = 36

// formatBound states what a value's format implies: a UUID's length, and
// that an integer fits 32 bits.
func formatBound(s *openapi3.Schema) {
	switch {
	case s.Type.Is("string") && s.Format == "uuid" && s.MaxLength == nil:
		s.MaxLength = openapi3.Uint64Ptr(uuidLen)
	case s.Type.Is("integer") && s.Format == "":
		s.Format = "int32"
	}
}

func domain(s *openapi3.Schema) { s.MaxLength = openapi3.Uint64Ptr(lms.MaxDomainLen) }

// The limits, by property name, of every schema that has the property: the
// constants the validation reads (pkg/lms, pkg/auth). A name whose meaning
// differs in one schema is overridden in bySchema.
var byProperty = map[string]constrain{
	"name":                    text(1, lms.MaxNameLen),
	"first_name":              text(1, lms.MaxPersonNameLen),
	"last_name":               text(1, lms.MaxPersonNameLen),
	"code":                    text(0, lms.MaxCourseCodeLen),
	"description":             text(0, lms.MaxDescriptionLen),
	"message":                 text(0, lms.MaxMessageLen),
	"passcode":                text(lms.MinPasscodeLen, lms.MaxPasscodeInputLen),
	"email":                   email,
	"recipient":               email,
	"password":                text(0, auth.MaxPasswordRunes),
	"refresh_token":           text(1, lms.MaxTokenLen),
	"token":                   text(1, lms.MaxTokenLen),
	"client_secret":           text(1, lms.MaxTokenLen),
	"scope":                   text(0, lms.MaxScopeLen),
	"next_cursor":             text(1, lms.MaxCursorLen),
	"csrf":                    text(1, lms.MaxTokenLen),
	"course_name":             text(1, lms.MaxNameLen),
	"course_code":             text(0, lms.MaxCourseCodeLen),
	"invitation_name":         text(1, lms.MaxNameLen),
	"organization_name":       text(1, lms.MaxNameLen),
	"allowed_email_domains":   list(0, lms.MaxAllowedEmailDomains, domain),
	"user_group_ids":          list(1, lms.MaxInvitationGroups, uuid),
	"recipients":              list(0, lms.MaxRecipients, email),
	"course_ids":              list(1, lms.MaxUserGroupAddition, uuid),
	"user_ids":                list(1, lms.MaxUserGroupAddition, uuid),
	"max_registrations":       count(1, lms.MaxRegistrations),
	"registrations_used":      count(0, lms.MaxRegistrations),
	"registrations_remaining": count(0, lms.MaxRegistrations),
	"data":                    list(0, lms.MaxPageLimit, nil),
	"url":                     text(1, lms.MaxWebhookURLLen),
	"event_types":             list(1, len(lms.WebhookEventTypes), nil),
	"secret":                  text(1, lms.MaxTokenLen),
	"response":                text(0, webhook.ResponseSnippetLen),
	"disabled_reason":         text(1, lms.MaxWebhookDescriptionLen+webhook.ResponseSnippetLen),
}

// A password that makes or changes an account must meet the policy; one
// that signs in is only bounded, as the server never stores a longer one.
var newPassword = text(auth.MinPasswordRunes, auth.MaxPasswordRunes)

var bySchema = map[string]map[string]constrain{
	"CreateUserRequest":       {"password": newPassword},
	"UpdateUserRequest":       {"password": newPassword},
	"RedeemRequest":           {"password": newPassword, "first_name": text(0, lms.MaxPersonNameLen), "last_name": text(0, lms.MaxPersonNameLen)},
	"UpdateInvitationRequest": {"user_group_ids": list(1, lms.MaxInvitationGroups, uuid)},
	"DeliveriesAccepted": {"data": list(1, max(lms.MaxRecipients+1, lms.MaxRecipientRows), nil),
		"rejected": list(0, lms.MaxRecipientRows, nil)},
	"CreateWebhookEndpointRequest": {"description": text(0, lms.MaxWebhookDescriptionLen)},
	"UpdateWebhookEndpointRequest": {"description": text(0, lms.MaxWebhookDescriptionLen)},
	"WebhookEndpoint":              {"description": text(0, lms.MaxWebhookDescriptionLen)},
	"WebhookEndpointCreated":       {"description": text(0, lms.MaxWebhookDescriptionLen)},
	// A rejected row's email is the file's cell as written, an address or not.
	"RejectedRecipient": {"email": nil},
}

// unlimited schemas are the server's own words, which no request writes.
var unlimited = map[string]bool{"Problem": true, "FieldProblem": true}

// byParameter are the limits of query parameters, by name.
var byParameter = map[string]constrain{
	"q":        text(0, lms.MaxQueryLen),
	"cursor":   text(0, lms.MaxCursorLen), // empty is none
	"limit":    count(1, lms.MaxPageLimit),
	"passcode": text(0, lms.MaxPasscodeInputLen),
	"token":    text(0, lms.MaxTokenLen),
	"action":   text(1, lms.MaxAuditNameLen),
}

// applyLimits states the server's limits on every schema and parameter, and
// gives every integer a format.
func applyLimits(doc *openapi3.T) {
	for name, ref := range doc.Components.Schemas {
		if ref.Value != nil {
			limitSchema(name, ref.Value)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Value.Content {
					if mt.Schema != nil && mt.Schema.Ref == "" && mt.Schema.Value != nil {
						limitForm(mt.Schema.Value)
					}
				}
			}
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.Schema != nil {
					limitParameter(p.Value)
				}
			}
		}
	}
}

// limitSchema states the limits of a component schema's properties: its
// own (bySchema), else those of the property's name, unless the schema is
// the server's own words.
func limitSchema(name string, s *openapi3.Schema) {
	own := bySchema[name]
	for prop, p := range s.Properties {
		if p.Ref != "" || p.Value == nil {
			continue
		}
		c, ok := own[prop]
		if !ok && !unlimited[name] {
			c = byProperty[prop]
		}
		if c != nil {
			c(p.Value)
		}
		formatBound(p.Value)
		if p.Value.Items != nil && p.Value.Items.Ref == "" {
			formatBound(p.Value.Items.Value)
		}
	}
}

// limitForm states the limits of a form's fields (the enrollment page's),
// without a lower one: a browser sends an empty field as empty, and the
// page says what it needs.
func limitForm(s *openapi3.Schema) {
	for prop, p := range s.Properties {
		if c := byProperty[prop]; c != nil && p.Value != nil {
			c(p.Value)
			p.Value.MinLength = 0
		}
	}
}

// limitParameter states a parameter's limits: a path's IDs are UUIDs, a
// query's by name.
func limitParameter(p *openapi3.Parameter) {
	if p.In == openapi3.ParameterInPath && (p.Name == "id" || strings.HasSuffix(p.Name, "_id")) {
		uuid(p.Schema.Value)
	}
	if c := byParameter[p.Name]; c != nil && p.In == openapi3.ParameterInQuery {
		c(p.Schema.Value)
	}
	formatBound(p.Schema.Value)
}
