-- POST /api/v1/auth/login (store.Login): find the candidate accounts, then
-- store a refresh token. The server also verifies the argon2id hash between
-- the two, which the hash-rate reference measures.
SELECT * FROM users WHERE email = :manager_email AND organization_id = :org ORDER BY id LIMIT :five;
INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, used_at, revoked_at, created_at)
VALUES (gen_random_uuid(), gen_random_uuid(), :manager, md5(random()::text) || md5(random()::text),
        now() + interval '720 hours', NULL, NULL, now());
