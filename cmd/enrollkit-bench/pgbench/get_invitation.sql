-- GET /api/v1/invitations/{id} (store.FindInvitationByID): the caller's row
-- and the invitation in one pipeline, as the server sends them, then the
-- invitation's user groups. A random seeded invitation.
\set i random(0, :n_inv - 1)
\startpipeline
SELECT id, organization_id, role, status, token_version FROM users WHERE id = :manager LIMIT :one;
SELECT id, organization_id, organization_group_id, name, search, passcode_hash, passcode_claim, passcode_sealed,
       max_registrations, registrations_used, message, status, expires_at, require_email_verification,
       allowed_email_domains, created_by, created_at, updated_at
FROM invitations WHERE organization_id = :org AND id = bench.id('inv', :i) LIMIT :one;
\endpipeline
SELECT invitation_id, user_group_id FROM invitation_user_groups WHERE invitation_id = bench.id('inv', :i) ORDER BY user_group_id;
