package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// InsertUserGroups inserts n user groups into an organization group with
// batched INSERTs, for tests that need many quickly. Names are
// prefix + a number counting down, so that name order differs from ID
// (creation) order.
func InsertUserGroups(tb testing.TB, st *Store, org, orgGroupID, prefix string, n int) []string {
	tb.Helper()
	now := st.now()
	rows := make([]userGroup, n)
	ids := make([]string, n)
	for i := range rows {
		name := fmt.Sprintf("%s %05d", prefix, n-i)
		rows[i] = userGroup{ID: newID(), OrganizationID: org, OrganizationGroupID: orgGroupID, Name: name,
			NameKey: strings.ToLower(name), CreatedAt: now, UpdatedAt: now}
		ids[i] = rows[i].ID
	}
	if err := st.db.gorm.CreateInBatches(rows, 500).Error; err != nil {
		tb.Fatal(err)
	}
	return ids
}

// InsertUsers inserts n learners without passwords into an organization
// group with batched INSERTs and returns their IDs.
func InsertUsers(tb testing.TB, st *Store, org, orgGroupID string, n int) []string {
	tb.Helper()
	now := st.now()
	rows := make([]user, n)
	ids := make([]string, n)
	for i := range rows {
		id := newID()
		email := id + "@bulk.example.com"
		rows[i] = user{ID: id, OrganizationID: org, OrganizationGroupID: orgGroupID, Email: email,
			FirstName: "Bulk", LastName: "Learner", Search: userSearch(email, "Bulk", "Learner"),
			Role: string(lms.RoleLearner), Status: string(lms.UserActive), CreatedAt: now, UpdatedAt: now}
		ids[i] = id
	}
	if err := st.db.gorm.CreateInBatches(rows, 500).Error; err != nil {
		tb.Fatal(err)
	}
	return ids
}

// RetryWebhookJobsNow makes every webhook job that waits for a retry
// available at once, as if its delay had passed, and returns how many
// webhook jobs are still to run or running.
func RetryWebhookJobsNow(tb testing.TB, q *Queue) int {
	tb.Helper()
	ctx := context.Background()
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(WebhookArgs{}.Kind()).
		States(rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStateAvailable, rivertype.JobStateRunning).First(1000))
	if err != nil {
		tb.Fatal(err)
	}
	for _, j := range res.Jobs {
		if j.State != rivertype.JobStateRetryable && j.State != rivertype.JobStateScheduled {
			continue
		}
		if _, err := q.client.JobRetry(ctx, j.ID); err != nil {
			tb.Fatal(err)
		}
	}
	return len(res.Jobs)
}

// WebhookJobsRunning counts the webhook jobs running now.
func WebhookJobsRunning(tb testing.TB, q *Queue) int {
	tb.Helper()
	res, err := q.client.JobList(context.Background(), river.NewJobListParams().Kinds(WebhookArgs{}.Kind()).
		States(rivertype.JobStateRunning).First(1000))
	if err != nil {
		tb.Fatal(err)
	}
	return len(res.Jobs)
}
