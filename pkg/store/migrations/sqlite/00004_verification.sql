-- Email verification of the accounts redemptions make: an invitation may
-- require it (the default) and may allow only some email domains; a
-- redemption waiting for its address to be verified holds its seat in
-- pending_redemptions; users and pending redemptions keep the skeleton of
-- their address, so that look-alikes of an address are found by index;
-- redemption_notices keep the answers about existing accounts even.
-- Migration 5 (in Go) fills the skeletons of the users already there.

-- +goose Up
ALTER TABLE invitations ADD COLUMN require_email_verification integer NOT NULL DEFAULT 1;
ALTER TABLE invitations ADD COLUMN allowed_email_domains text NOT NULL DEFAULT '';

ALTER TABLE users ADD COLUMN email_skeleton text;
CREATE INDEX users_email_skeleton ON users (organization_id, email_skeleton);

CREATE TABLE pending_redemptions (
    id              text PRIMARY KEY,
    invitation_id   text NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    email_skeleton  text NOT NULL,
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    password_hash   text NOT NULL,
    token_hash      text NOT NULL UNIQUE,
    token_sealed    text NOT NULL,
    client_ip       text NOT NULL,
    user_agent      text NOT NULL,
    expires_at      datetime NOT NULL,
    sent_at         datetime NOT NULL,
    created_at      datetime NOT NULL,
    UNIQUE (invitation_id, email)
);
CREATE INDEX pending_redemptions_skeleton ON pending_redemptions (organization_id, email_skeleton);

-- A redemption that named an existing account with a wrong password, on an
-- invitation that verifies addresses, is answered as if it were pending and
-- the account's owner is told by email instead; this row makes the answers
-- to repeated attempts follow the same rules as a real pending redemption's
-- (a second link at most once a minute).
CREATE TABLE redemption_notices (
    invitation_id text NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    email         text NOT NULL,
    answer_id     text NOT NULL,
    expires_at    datetime NOT NULL,
    sent_at       datetime NOT NULL,
    created_at    datetime NOT NULL,
    PRIMARY KEY (invitation_id, email)
);

-- +goose Down
DROP TABLE redemption_notices;
DROP TABLE pending_redemptions;
DROP INDEX users_email_skeleton;
ALTER TABLE users DROP COLUMN email_skeleton;
ALTER TABLE invitations DROP COLUMN allowed_email_domains;
ALTER TABLE invitations DROP COLUMN require_email_verification;
