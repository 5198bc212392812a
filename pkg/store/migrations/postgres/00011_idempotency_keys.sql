-- The answers of requests sent with an Idempotency-Key, per caller and key,
-- for a day: a retry of the same request is answered the same instead of
-- running again. A row with status 0 is a request still running, claimed
-- by owner; the periodic cleanup deletes the expired rows.

-- +goose Up
CREATE TABLE idempotency_keys (
    scope text NOT NULL,
    request_key text NOT NULL,
    fingerprint text NOT NULL,
    owner text NOT NULL,
    status integer NOT NULL DEFAULT 0,
    content_type text,
    location text,
    body bytea,
    locked_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope, request_key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
