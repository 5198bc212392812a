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
	q, err := st.NewQueue(store.QueueOptions{Work: work, Sender: sender, From: "enrollkit <no-reply@enrollkit.example>",
		RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond})
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
