-- POST /api/v1/redemptions (store.Redeem) for a new learner: every
-- statement of one redemption, without the argon2id hash the server computes
-- between the lookups and the transaction. With tag=pgbinv n=200 it spreads
-- over 200 invitations; with tag=pgbhot n=1 every client redeems the same
-- (hot) invitation, whose seat UPDATE then serializes the transactions.
\set i random(0, :n - 1)
\set r random(1, 1000000000000000)
SELECT * FROM invitations WHERE passcode_claim = bench.claim(:tag, :i) LIMIT :one;
SELECT * FROM users WHERE organization_id = :org AND email = 'pgbench-' || :r || '@redeem.example' LIMIT :one;
BEGIN;
SELECT * FROM redemptions WHERE invitation_id = bench.id(:tag, :i) AND email = 'pgbench-' || :r || '@redeem.example' LIMIT :one;
INSERT INTO users (id, organization_id, organization_group_id, email, first_name, last_name, search, role, status,
                   password_hash, token_version, created_at, updated_at)
VALUES (bench.id('pgbench-user', :r), :org, :root, 'pgbench-' || :r || '@redeem.example', 'Pat', 'Bench',
        'pgbench-' || :r || '@redeem.example pat bench', 'learner', 'active',
        '$argon2id$v=19$m=19456,t=2,p=1$cGdiZW5jaHNhbHRzYWx0MQ$cGdiZW5jaGhhc2hwZ2JlbmNoaGFzaHBnYmVuY2hoYXM', 0, now(), now());
INSERT INTO redemptions (id, invitation_id, organization_id, user_id, email, client_ip, user_agent, created_at)
VALUES (gen_random_uuid(), bench.id(:tag, :i), :org, bench.id('pgbench-user', :r), 'pgbench-' || :r || '@redeem.example',
        '127.0.0.1', 'pgbench', now());
INSERT INTO user_group_members (user_group_id, user_id, created_at)
SELECT user_group_id, bench.id('pgbench-user', :r), now() FROM invitation_user_groups WHERE invitation_id = bench.id(:tag, :i)
ON CONFLICT (user_group_id, user_id) DO NOTHING;
INSERT INTO enrollments (id, organization_id, user_id, course_id, user_group_id, invitation_id, created_at)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid,
       :org, bench.id('pgbench-user', :r), gc.course_id, gc.user_group_id, bench.id(:tag, :i), now()
FROM user_group_courses gc JOIN invitation_user_groups iug ON iug.user_group_id = gc.user_group_id
WHERE iug.invitation_id = bench.id(:tag, :i)
ON CONFLICT (user_id, course_id) DO NOTHING;
INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, used_at, revoked_at, created_at)
VALUES (gen_random_uuid(), gen_random_uuid(), bench.id('pgbench-user', :r), md5(random()::text) || md5(random()::text),
        now() + interval '720 hours', NULL, NULL, now());
UPDATE invitations SET registrations_used = registrations_used + 1
WHERE id = bench.id(:tag, :i) AND status = 'active' AND registrations_used < max_registrations
  AND (expires_at IS NULL OR expires_at > now());
COMMIT;
SELECT user_groups.id, user_groups.name FROM user_groups
JOIN invitation_user_groups ON invitation_user_groups.user_group_id = user_groups.id
WHERE invitation_user_groups.invitation_id = bench.id(:tag, :i) ORDER BY user_groups.name_key, user_groups.id;
SELECT enrollments.id, enrollments.organization_id, enrollments.user_id, enrollments.course_id, enrollments.user_group_id,
       enrollments.created_at, courses.name AS course_name, courses.code AS course_code
FROM enrollments JOIN courses ON courses.id = enrollments.course_id
WHERE enrollments.user_id = bench.id('pgbench-user', :r)
  AND enrollments.course_id IN (SELECT user_group_courses.course_id FROM user_group_courses
      JOIN invitation_user_groups ON invitation_user_groups.user_group_id = user_group_courses.user_group_id
      WHERE invitation_user_groups.invitation_id = bench.id(:tag, :i))
ORDER BY courses.name_key, enrollments.id;
