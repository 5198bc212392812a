-- GET /api/v1/invitations/{id} (store.FindInvitationByID): authenticate,
-- read the invitation, then its user groups. A random seeded invitation.
\set i random(0, :n_inv - 1)
SELECT id, organization_id, role, status, token_version FROM users WHERE id = :manager LIMIT :one;
SELECT * FROM invitations WHERE organization_id = :org AND id = bench.id('inv', :i) LIMIT :one;
SELECT * FROM invitation_user_groups WHERE invitation_id IN (bench.id('inv', :i)) ORDER BY user_group_id;
