-- An invitation email is marked sending, committed, before the mail server
-- is contacted, so that an attempt cut off mid-send is never followed by a
-- second copy: the next attempt finds it sending and ends it as unknown
-- (the mail server may or may not have accepted it), which is final.

-- +goose Up
ALTER TABLE invitation_deliveries DROP CONSTRAINT invitation_deliveries_status_check;
ALTER TABLE invitation_deliveries ADD CONSTRAINT invitation_deliveries_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unknown'));

-- +goose Down
-- The old statuses cannot say "may have been delivered": both become
-- failed, which is never sent again (queued would be).
UPDATE invitation_deliveries SET status = 'failed',
    last_error = CASE WHEN status = 'sending'
        THEN 'interrupted while sending; it may or may not have been delivered' ELSE last_error END
    WHERE status IN ('sending', 'unknown');
ALTER TABLE invitation_deliveries DROP CONSTRAINT invitation_deliveries_status_check;
ALTER TABLE invitation_deliveries ADD CONSTRAINT invitation_deliveries_status_check
    CHECK (status IN ('queued', 'sent', 'failed'));
