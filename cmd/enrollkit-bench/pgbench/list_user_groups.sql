-- GET /api/v1/user-groups?limit=50 (store.FindUserGroups): the caller's row
-- and the first keyset page (one row more than the limit, with each group's
-- counts), sent in one pipeline as the server does (api.authenticateReads).
\startpipeline
SELECT id, organization_id, role, status, token_version FROM users WHERE id = :manager LIMIT :one;
SELECT user_groups.id, user_groups.organization_id, user_groups.organization_group_id,
       user_groups.name, user_groups.name_key, user_groups.description, user_groups.created_at, user_groups.updated_at,
       (SELECT count(*) FROM user_group_courses gc WHERE gc.user_group_id = user_groups.id) AS course_count,
       (SELECT count(*) FROM user_group_members gm WHERE gm.user_group_id = user_groups.id) AS member_count
FROM user_groups WHERE organization_id = :org ORDER BY id ASC LIMIT :page;
\endpipeline
