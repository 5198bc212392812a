-- POST /api/v1/redemptions (store.Redeem) for a new learner: every
-- statement of one redemption (store.redeemNewInOneStatement on
-- PostgreSQL), without the argon2id hash the server computes between the
-- lookups and the statement, which runs on its own (no BEGIN/COMMIT: one
-- statement is one transaction). With tag=pgbinv n=200 it spreads over 200
-- invitations; with tag=pgbhot n=1 every client redeems the same (hot)
-- invitation, whose seat UPDATE then serializes the transactions.
\set i random(0, :n - 1)
\set r random(1, 1000000000000000)
SELECT * FROM invitations WHERE passcode_claim = bench.claim(:tag, :i) LIMIT :one;
SELECT * FROM users WHERE organization_id = :org AND email = 'pgbench-' || :r || '@redeem.example' LIMIT :one;
WITH seat AS (
    UPDATE invitations SET registrations_used = registrations_used + 1
    WHERE id = bench.id(:tag, :i) AND status = 'active' AND (expires_at IS NULL OR expires_at > now())
    AND registrations_used < max_registrations
    RETURNING id
), u AS (
    INSERT INTO users (id, organization_id, organization_group_id, email, first_name, last_name, search,
        role, status, password_hash, token_version, created_at, updated_at)
    SELECT bench.id('pgbench-user', :r), :org, :root, 'pgbench-' || :r || '@redeem.example', 'Pat', 'Bench',
        'pgbench-' || :r || '@redeem.example pat bench', 'learner', 'active',
        '$argon2id$v=19$m=7168,t=5,p=1$cGdiZW5jaHNhbHRzYWx0MQ$cGdiZW5jaGhhc2hwZ2JlbmNoaGFzaHBnYmVuY2hoYXM', 0, now(), now()
    FROM seat
    RETURNING id
), r AS (
    INSERT INTO redemptions (id, invitation_id, organization_id, user_id, email, client_ip, user_agent, created_at)
    SELECT gen_random_uuid(), bench.id(:tag, :i), :org, u.id, 'pgbench-' || :r || '@redeem.example', '127.0.0.1', 'pgbench', now() FROM u
), m AS (
    INSERT INTO user_group_members (user_group_id, user_id, created_at)
    SELECT iug.user_group_id, u.id, now() FROM u, invitation_user_groups iug WHERE iug.invitation_id = bench.id(:tag, :i)
    ON CONFLICT (user_group_id, user_id) DO NOTHING
), e AS (
    INSERT INTO enrollments (id, organization_id, user_id, course_id, user_group_id, invitation_id, created_at)
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid,
        :org, u.id, gc.course_id, gc.user_group_id, bench.id(:tag, :i), now()
    FROM u, user_group_courses gc JOIN invitation_user_groups iug ON iug.user_group_id = gc.user_group_id
    WHERE iug.invitation_id = bench.id(:tag, :i)
    ON CONFLICT (user_id, course_id) DO NOTHING
    RETURNING id, course_id, user_group_id
), t AS (
    INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, created_at)
    SELECT gen_random_uuid(), gen_random_uuid(), u.id, md5(random()::text) || md5(random()::text), now() + interval '720 hours', now() FROM u
)
SELECT 'u' AS kind, u.id, NULL::uuid AS course_id, NULL::uuid AS user_group_id, '' AS name, NULL AS code, '' AS name_key FROM u
UNION ALL
SELECT 'e', e.id, e.course_id, e.user_group_id, c.name, c.code, c.name_key FROM e JOIN courses c ON c.id = e.course_id
UNION ALL
SELECT 'g', g.id, NULL, NULL, g.name, NULL, g.name_key
FROM u, invitation_user_groups iug JOIN user_groups g ON g.id = iug.user_group_id WHERE iug.invitation_id = bench.id(:tag, :i)
ORDER BY kind, name_key, id;
