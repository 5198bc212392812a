package mail

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestIsPermanentWithoutSMTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"cancelled", context.Canceled, false},
		{"deadline", fmt.Errorf("send: %w", context.DeadlineExceeded), false},
		{"plain error", errors.New("550 looks permanent but is no server reply"), false},
		{"invalid address", fmt.Errorf("queue: %w", ErrInvalidAddress), true},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestIsOutcomeUnknownWithoutSMTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"deadline", fmt.Errorf("send: %w", context.DeadlineExceeded), false},
		{"invalid address", fmt.Errorf("queue: %w", ErrInvalidAddress), false},
		{"no reply", fmt.Errorf("%w: no reply: %w", ErrOutcomeUnknown, context.DeadlineExceeded), true},
	}
	for _, tt := range tests {
		if got := IsOutcomeUnknown(tt.err); got != tt.want {
			t.Errorf("%s: IsOutcomeUnknown(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
		if tt.want && IsPermanent(tt.err) {
			t.Errorf("%s: IsPermanent(%v) = true for an unknown outcome", tt.name, tt.err)
		}
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, from, want string
		wantErr        bool
	}{
		{id: "delivery-42@enrollkit.example", from: "no-reply@example.com", want: "delivery-42@enrollkit.example"},
		{id: "<delivery-42@enrollkit.example>", from: "no-reply@example.com", want: "delivery-42@enrollkit.example"},
		{id: "0b6c9e1e-5d0f-4d7e-9a59-3f1f1c1d2e3f", from: "no-reply@example.com", want: "0b6c9e1e-5d0f-4d7e-9a59-3f1f1c1d2e3f@example.com"},
		{id: "a b@example.com", from: "no-reply@example.com", wantErr: true},
		{id: "x\r\nBcc: y@example.com", from: "no-reply@example.com", wantErr: true},
		{id: "a@b@c", from: "no-reply@example.com", wantErr: true},
		{id: "a..b@c", from: "no-reply@example.com", wantErr: true},
		{id: "a@", from: "no-reply@example.com", wantErr: true},
	}
	for _, tt := range tests {
		got, err := messageID(tt.id, tt.from)
		if tt.wantErr {
			if err == nil || !IsPermanent(err) {
				t.Errorf("messageID(%q) = %q, %v; want a permanent error", tt.id, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("messageID(%q) = %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
}
