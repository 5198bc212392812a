-- An invitation email is marked sending, committed, before the mail server
-- is contacted, so that an attempt cut off mid-send is never followed by a
-- second copy: the next attempt finds it sending and ends it as unknown
-- (the mail server may or may not have accepted it), which is final.
-- SQLite cannot change a CHECK constraint: the table is rebuilt with the
-- new one (the procedure of SQLite's ALTER TABLE documentation), its rows
-- copied, its indexes made again. No table refers to it.

-- +goose Up
CREATE TABLE invitation_deliveries_new (
    id              text PRIMARY KEY,
    invitation_id   text NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    recipient       text NOT NULL,
    copy            integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    requested_by    text REFERENCES users (id) ON DELETE SET NULL,
    created_at      datetime NOT NULL,
    updated_at      datetime NOT NULL,
    sent_at         datetime,
    scheduled_at    datetime
);
INSERT INTO invitation_deliveries_new (id, invitation_id, organization_id, recipient, copy, status, attempts,
        last_error, requested_by, created_at, updated_at, sent_at, scheduled_at)
    SELECT id, invitation_id, organization_id, recipient, copy, status, attempts,
        last_error, requested_by, created_at, updated_at, sent_at, scheduled_at
    FROM invitation_deliveries;
DROP TABLE invitation_deliveries;
ALTER TABLE invitation_deliveries_new RENAME TO invitation_deliveries;
CREATE INDEX invitation_deliveries_page ON invitation_deliveries (invitation_id, id);
CREATE INDEX invitation_deliveries_org_created ON invitation_deliveries (organization_id, created_at);
CREATE INDEX invitation_deliveries_org_scheduled ON invitation_deliveries (organization_id, scheduled_at);

-- +goose Down
-- The old statuses cannot say "may have been delivered": both become
-- failed, which is never sent again (queued would be).
CREATE TABLE invitation_deliveries_old (
    id              text PRIMARY KEY,
    invitation_id   text NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    recipient       text NOT NULL,
    copy            integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    requested_by    text REFERENCES users (id) ON DELETE SET NULL,
    created_at      datetime NOT NULL,
    updated_at      datetime NOT NULL,
    sent_at         datetime,
    scheduled_at    datetime
);
INSERT INTO invitation_deliveries_old (id, invitation_id, organization_id, recipient, copy, status, attempts,
        last_error, requested_by, created_at, updated_at, sent_at, scheduled_at)
    SELECT id, invitation_id, organization_id, recipient, copy,
        CASE WHEN status IN ('sending', 'unknown') THEN 'failed' ELSE status END, attempts,
        CASE WHEN status = 'sending' THEN 'interrupted while sending; it may or may not have been delivered' ELSE last_error END,
        requested_by, created_at, updated_at, sent_at, scheduled_at
    FROM invitation_deliveries;
DROP TABLE invitation_deliveries;
ALTER TABLE invitation_deliveries_old RENAME TO invitation_deliveries;
CREATE INDEX invitation_deliveries_page ON invitation_deliveries (invitation_id, id);
CREATE INDEX invitation_deliveries_org_created ON invitation_deliveries (organization_id, created_at);
CREATE INDEX invitation_deliveries_org_scheduled ON invitation_deliveries (organization_id, scheduled_at);
