-- GET /api/v1/courses?q=<term> (store.FindCourses): the caller's row and a
-- case-insensitive substring search on the lower-cased search column, first
-- keyset page, in one pipeline as the server sends them. The terms are the
-- harness's searchTerms, in the same order.
\set k random(1, 8)
\startpipeline
SELECT id, organization_id, role, status, token_version FROM users WHERE id = :manager LIMIT :one;
SELECT id, organization_id, name, name_key, code, code_key, description, search, created_at, updated_at
FROM courses
WHERE organization_id = :org
  AND search LIKE '%' || (ARRAY['safety','excel','leadership','onboarding','python','compliance','negotiation','privacy'])[:k] || '%' ESCAPE '\'
ORDER BY id ASC LIMIT :page;
\endpipeline
