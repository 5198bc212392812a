-- A delivery keeps the recipient's names when the send gave them (a
-- recipient file with first_name and last_name columns), so that the email
-- greets the person by name and the deliveries list shows who each address
-- is. NULL is a name not given; deliveries made before have none.
--
-- A manager may also send a delivery again. Its email counts against the
-- organization's quota like a new one, so each resend is a row here, counted
-- with the deliveries created in the same hour and day by the same kind of
-- index.

-- +goose Up
ALTER TABLE invitation_deliveries ADD COLUMN first_name text;
ALTER TABLE invitation_deliveries ADD COLUMN last_name text;
CREATE TABLE delivery_resends (
    id              uuid PRIMARY KEY,
    delivery_id     uuid NOT NULL REFERENCES invitation_deliveries (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    requested_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX delivery_resends_org_created ON delivery_resends (organization_id, created_at);
CREATE INDEX delivery_resends_delivery ON delivery_resends (delivery_id);

-- +goose Down
DROP TABLE delivery_resends;
ALTER TABLE invitation_deliveries DROP COLUMN last_name;
ALTER TABLE invitation_deliveries DROP COLUMN first_name;
