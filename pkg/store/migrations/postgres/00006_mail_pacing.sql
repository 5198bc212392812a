-- Invitation emails are paced per organization: each delivery is scheduled
-- at the organization's pace, so that one organization's thousands of
-- emails cannot keep another's waiting, and the organization's sends in the
-- last hour and day are counted against its quota by index.

-- +goose Up
ALTER TABLE invitation_deliveries ADD COLUMN scheduled_at timestamptz;
CREATE INDEX invitation_deliveries_org_created ON invitation_deliveries (organization_id, created_at);
CREATE INDEX invitation_deliveries_org_scheduled ON invitation_deliveries (organization_id, scheduled_at);

-- +goose Down
DROP INDEX invitation_deliveries_org_scheduled;
DROP INDEX invitation_deliveries_org_created;
ALTER TABLE invitation_deliveries DROP COLUMN scheduled_at;
