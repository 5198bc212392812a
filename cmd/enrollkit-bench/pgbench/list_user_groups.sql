-- GET /api/v1/user-groups?limit=50 (store.FindUserGroups): the caller's row
-- and the first keyset page (one row more than the limit, with each group's
-- counts), sent in one pipeline as the server does (api.authenticateReads).
\startpipeline
SELECT id, organization_id, role, status, token_version FROM users WHERE id = :manager LIMIT :one;
SELECT user_groups.*,
       (SELECT count(*) FROM user_group_courses gc WHERE gc.user_group_id = user_groups.id) AS course_count,
       (SELECT count(*) FROM user_group_members gm WHERE gm.user_group_id = user_groups.id) AS member_count
FROM user_groups WHERE organization_id = :org ORDER BY id ASC LIMIT :page;
\endpipeline
