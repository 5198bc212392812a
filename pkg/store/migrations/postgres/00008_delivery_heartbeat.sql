-- A delivery being sent refreshes its updated_at while its attempt waits for
-- the mail server; a sweep records as unknown the sending ones whose attempt
-- stopped doing so (its process died), minutes after, not when River
-- rescues the job. The index holds only the few deliveries being sent.

-- +goose Up
CREATE INDEX invitation_deliveries_sending ON invitation_deliveries (updated_at) WHERE status = 'sending';

-- +goose Down
DROP INDEX invitation_deliveries_sending;
