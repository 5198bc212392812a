-- GET /audit-events reads an organization's events newest first, all of
-- them or one action's or one actor's; one target's are read through
-- audit_events_target. Each index ends with the ID, the list's order, so a
-- page starts at its cursor and stops after its rows.

-- +goose Up
CREATE INDEX audit_events_page ON audit_events (organization_id, id);
CREATE INDEX audit_events_action ON audit_events (organization_id, action, id);
CREATE INDEX audit_events_actor ON audit_events (organization_id, actor_id, id);

-- +goose Down
DROP INDEX audit_events_actor;
DROP INDEX audit_events_action;
DROP INDEX audit_events_page;
