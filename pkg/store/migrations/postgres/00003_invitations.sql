-- Invitations with their passcodes and seats, the user groups they fill,
-- redemptions, email deliveries and the audit trail.

-- +goose Up
CREATE TABLE invitations (
    id                    uuid PRIMARY KEY,
    organization_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    organization_group_id uuid NOT NULL REFERENCES organization_groups (id),
    name                  text NOT NULL,
    search                text NOT NULL,
    passcode_hash         text NOT NULL,
    passcode_claim        text,
    passcode_sealed       text NOT NULL,
    max_registrations     integer NOT NULL CHECK (max_registrations BETWEEN 1 AND 100000),
    registrations_used    integer NOT NULL DEFAULT 0 CHECK (registrations_used >= 0 AND registrations_used <= max_registrations),
    message               text NOT NULL,
    status                text NOT NULL CHECK (status IN ('draft', 'active', 'paused', 'revoked')),
    expires_at            timestamptz,
    created_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE UNIQUE INDEX invitations_passcode_claim ON invitations (passcode_claim);
CREATE INDEX invitations_page ON invitations (organization_id, id);
CREATE INDEX invitations_search ON invitations USING gin (search gin_trgm_ops);

CREATE TABLE invitation_user_groups (
    invitation_id uuid NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    user_group_id uuid NOT NULL REFERENCES user_groups (id),
    PRIMARY KEY (invitation_id, user_group_id)
);
CREATE INDEX invitation_user_groups_group ON invitation_user_groups (user_group_id);

CREATE TABLE redemptions (
    id              uuid PRIMARY KEY,
    invitation_id   uuid NOT NULL REFERENCES invitations (id),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email           text NOT NULL,
    client_ip       text NOT NULL,
    user_agent      text NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (invitation_id, email)
);
CREATE INDEX redemptions_page ON redemptions (invitation_id, id);
CREATE INDEX redemptions_user ON redemptions (user_id);

CREATE TABLE invitation_deliveries (
    id              uuid PRIMARY KEY,
    invitation_id   uuid NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    recipient       text NOT NULL,
    copy            boolean NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    requested_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX invitation_deliveries_page ON invitation_deliveries (invitation_id, id);

CREATE TABLE audit_events (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    actor_id        uuid,
    actor_kind      text NOT NULL,
    action          text NOT NULL,
    target_type     text NOT NULL,
    target_id       uuid NOT NULL,
    request_id      text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (organization_id, target_id, id);

ALTER TABLE enrollments ADD COLUMN invitation_id uuid REFERENCES invitations (id) ON DELETE SET NULL;

-- +goose Down
ALTER TABLE enrollments DROP COLUMN invitation_id;
DROP TABLE audit_events;
DROP TABLE invitation_deliveries;
DROP TABLE redemptions;
DROP TABLE invitation_user_groups;
DROP TABLE invitations;
