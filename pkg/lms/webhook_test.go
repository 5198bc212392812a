package lms

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWebhookEndpointRules: every message of an endpoint's validation, the
// normalizing of what is accepted, and Apply.
func TestWebhookEndpointRules(t *testing.T) {
	t.Parallel()
	types := []string{EventUserCreated}
	urlRule := FieldError{"url", "must be an absolute URL of at most 2048 characters"}
	typesRule := FieldError{"event_types", webhookEventTypesRule}
	for _, c := range []struct {
		name string
		err  error
		want []FieldError
	}{
		{"no url", (&NewWebhookEndpoint{EventTypes: types}).Validate(), []FieldError{urlRule}},
		{"long url", (&NewWebhookEndpoint{URL: "https://x/" + strings.Repeat("p", MaxWebhookURLLen), EventTypes: types}).Validate(),
			[]FieldError{urlRule}},
		{"control url", (&NewWebhookEndpoint{URL: "https://x/\x00", EventTypes: types}).Validate(), []FieldError{urlRule}},
		{"no types", (&NewWebhookEndpoint{URL: "https://x/"}).Validate(), []FieldError{typesRule}},
		{"unknown type", (&NewWebhookEndpoint{URL: "https://x/", EventTypes: []string{"user.deleted"}}).Validate(), []FieldError{typesRule}},
		{"too many types", (&NewWebhookEndpoint{URL: "https://x/", EventTypes: append(slices.Clone(WebhookEventTypes), EventUserCreated)}).Validate(),
			[]FieldError{typesRule}},
		{"long description", (&NewWebhookEndpoint{URL: "https://x/", EventTypes: types,
			Description: strings.Repeat("d", MaxWebhookDescriptionLen+1)}).Validate(), []FieldError{{"description", "must be at most 500 characters"}}},
		{"update", (&WebhookEndpointUpdate{URL: new(string), EventTypes: &[]string{}}).Validate(), []FieldError{urlRule, typesRule}},
	} {
		var e *Error
		if !errors.As(c.err, &e) || e.Code != EInvalid {
			t.Errorf("%s: %v, want validation_failed", c.name, c.err)
			continue
		}
		if !slices.Equal(e.Fields, c.want) {
			t.Errorf("%s: fields\n got %q\nwant %q", c.name, e.Fields, c.want)
		}
	}

	in := NewWebhookEndpoint{URL: " https://hr.example.com/h ", EventTypes: []string{EventUserCreated, EventDeliverySent, EventUserCreated},
		Description: " Workday "}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	if in.URL != "https://hr.example.com/h" || !slices.Equal(in.EventTypes, []string{EventDeliverySent, EventUserCreated}) || in.Description != "Workday" {
		t.Errorf("normalized to %+v", in)
	}

	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	failing := now.Add(-time.Hour)
	e := WebhookEndpoint{Enabled: false, DisabledReason: "failed for a day", FailingSince: &failing}
	e.Apply(WebhookEndpointUpdate{Description: new(string)}, now)
	if e.Enabled || e.FailingSince == nil {
		t.Errorf("a description change enabled it: %+v", e)
	}
	on := true
	e.Apply(WebhookEndpointUpdate{Enabled: &on}, now)
	if !e.Enabled || e.FailingSince != nil || e.DisabledReason != "" || !e.UpdatedAt.Equal(now) {
		t.Errorf("enabled: %+v", e)
	}
	if err := ErrTooManyWebhookEndpoints(); ErrorCode(err) != EConflict {
		t.Errorf("ErrTooManyWebhookEndpoints: %v", err)
	}
}
