-- Webhooks: the endpoints HR systems register, the events written in the
-- transaction of the change they tell of, one message per event and
-- endpoint (the outbox, sent by the job queue), and every attempt.
-- event_types is a space-separated list with a space at each end, so that
-- "is this endpoint subscribed to t" is a LIKE '% t %' on the row.
-- A message's generation counts its redeliveries: each job carries the
-- generation it was queued for, and a job of an earlier one stops.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id                         text PRIMARY KEY,
    organization_id            text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                        text NOT NULL,
    description                text NOT NULL DEFAULT '',
    event_types                text NOT NULL,
    enabled                    boolean NOT NULL,
    disabled_reason            text,
    secret_sealed              text NOT NULL,
    previous_secret_sealed     text,
    previous_secret_expires_at datetime,
    failing_since              datetime,
    created_at                 datetime NOT NULL,
    updated_at                 datetime NOT NULL
);
CREATE INDEX webhook_endpoints_page ON webhook_endpoints (organization_id, id);

CREATE TABLE webhook_events (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type            text NOT NULL,
    payload         text NOT NULL,
    created_at      datetime NOT NULL
);

CREATE TABLE webhook_messages (
    event_id        text NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    generation      integer NOT NULL DEFAULT 0,
    updated_at      datetime NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id);

CREATE TABLE webhook_attempts (
    id              text PRIMARY KEY,
    event_id        text NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    attempt         integer NOT NULL,
    status_code     integer NOT NULL,
    duration_ms     integer NOT NULL,
    error           text,
    response        text NOT NULL DEFAULT '',
    created_at      datetime NOT NULL
);
CREATE INDEX webhook_attempts_page ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
