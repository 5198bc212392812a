-- Organizations, their tree of organization groups, their people and
-- integration clients, and the refresh tokens that keep people signed in.
-- Same tables and columns as the PostgreSQL migration; IDs are UUID text and
-- times are UTC text in one fixed format, so they sort as they compare.

-- +goose Up
CREATE TABLE organizations (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at datetime NOT NULL
);

CREATE TABLE organization_groups (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    parent_id       text REFERENCES organization_groups (id),
    name            text NOT NULL,
    name_key        text NOT NULL,
    created_at      datetime NOT NULL,
    updated_at      datetime NOT NULL
);
CREATE UNIQUE INDEX organization_groups_one_root ON organization_groups (organization_id) WHERE parent_id IS NULL;
CREATE UNIQUE INDEX organization_groups_sibling_name ON organization_groups (parent_id, name_key);
CREATE INDEX organization_groups_page ON organization_groups (organization_id, id);

CREATE TABLE users (
    id                    text PRIMARY KEY,
    organization_id       text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    organization_group_id text NOT NULL REFERENCES organization_groups (id),
    email                 text NOT NULL,
    first_name            text NOT NULL,
    last_name             text NOT NULL,
    search                text NOT NULL,
    role                  text NOT NULL CHECK (role IN ('full_manager', 'limited_manager', 'learner')),
    status                text NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash         text,
    token_version         integer NOT NULL DEFAULT 0,
    created_at            datetime NOT NULL,
    updated_at            datetime NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (organization_id, email);
CREATE INDEX users_login ON users (email);
CREATE INDEX users_page ON users (organization_id, id);
CREATE INDEX users_group ON users (organization_group_id);

CREATE TABLE integration_clients (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('full_manager', 'limited_manager')),
    secret_hash     text NOT NULL,
    created_by      text REFERENCES users (id) ON DELETE SET NULL,
    created_at      datetime NOT NULL
);
CREATE INDEX integration_clients_page ON integration_clients (organization_id, id);

CREATE TABLE refresh_tokens (
    id         text PRIMARY KEY,
    family_id  text NOT NULL,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    expires_at datetime NOT NULL,
    used_at    datetime,
    revoked_at datetime,
    created_at datetime NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE integration_clients;
DROP TABLE users;
DROP TABLE organization_groups;
DROP TABLE organizations;
