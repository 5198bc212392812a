-- The course catalog, user groups with their courses and members, and the
-- enrollments that adding either creates. name_key, code_key and search hold
-- lower-cased text computed by the application, as in 00001.

-- +goose Up
CREATE TABLE courses (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    name_key        text NOT NULL,
    code            text,
    code_key        text,
    description     text NOT NULL DEFAULT '',
    search          text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
-- NULL codes are distinct, so any number of courses may have none.
CREATE UNIQUE INDEX courses_code ON courses (organization_id, code_key);
CREATE INDEX courses_page ON courses (organization_id, id);
CREATE INDEX courses_page_name ON courses (organization_id, name_key, id);
CREATE INDEX courses_search ON courses USING gin (search gin_trgm_ops);

CREATE TABLE user_groups (
    id                    uuid PRIMARY KEY,
    organization_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    organization_group_id uuid NOT NULL REFERENCES organization_groups (id),
    name                  text NOT NULL,
    name_key              text NOT NULL,
    description           text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE UNIQUE INDEX user_groups_name ON user_groups (organization_group_id, name_key);
CREATE INDEX user_groups_page ON user_groups (organization_id, id);
CREATE INDEX user_groups_page_name ON user_groups (organization_id, name_key, id);
CREATE INDEX user_groups_group_page ON user_groups (organization_group_id, id);
CREATE INDEX user_groups_search ON user_groups USING gin (name_key gin_trgm_ops);

-- Removing a course from the catalog removes it from every group; whether
-- it may be removed at all is decided by enrollments.
CREATE TABLE user_group_courses (
    user_group_id uuid NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    course_id     uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (user_group_id, course_id)
);
CREATE INDEX user_group_courses_course ON user_group_courses (course_id);

CREATE TABLE user_group_members (
    user_group_id uuid NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (user_group_id, user_id)
);
CREATE INDEX user_group_members_user ON user_group_members (user_id);

-- course_id has no ON DELETE action (NO ACTION): a course with enrollments
-- cannot be deleted, while deleting a whole organization, which cascades to
-- both, still can (NO ACTION is checked at the end of the statement,
-- RESTRICT would be checked before the cascade removed the enrollments).
-- user_group_id remembers which group enrolled the user, until the group goes.
CREATE TABLE enrollments (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id       uuid NOT NULL REFERENCES courses (id),
    user_group_id   uuid REFERENCES user_groups (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX enrollments_user_course ON enrollments (user_id, course_id);
CREATE INDEX enrollments_user_page ON enrollments (user_id, id);
CREATE INDEX enrollments_course ON enrollments (course_id);
CREATE INDEX enrollments_user_group ON enrollments (user_group_id);

-- +goose Down
DROP TABLE enrollments;
DROP TABLE user_group_members;
DROP TABLE user_group_courses;
DROP TABLE user_groups;
DROP TABLE courses;
