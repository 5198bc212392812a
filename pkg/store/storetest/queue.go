package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/mail"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
)

// StartQueue gives st a job queue that sends through srv and retries in
// milliseconds; with work, its workers run until tb ends.
func StartQueue(tb testing.TB, st *store.Store, srv *mailtest.Server, work bool) *store.Queue {
	tb.Helper()
	sender, err := mail.NewSMTPSender(srv.URL(), true)
	if err != nil {
		tb.Fatal(err)
	}
	return StartQueueWith(tb, st, sender, work)
}

// StartQueueWith is StartQueue sending through sender.
func StartQueueWith(tb testing.TB, st *store.Store, sender mail.Sender, work bool) *store.Queue {
	tb.Helper()
	q, err := st.NewQueue(store.QueueOptions{Work: work, Sender: sender, From: "enrollkit <no-reply@enrollkit.example>",
		RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond, SendingBeat: 200 * time.Millisecond,
		WebhookRetryBase: 20 * time.Millisecond, WebhookTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q
}
