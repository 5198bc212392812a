-- POST /api/v1/user-groups/{id}/courses with one course on the large group
-- (store.AddUserGroupCourses): authenticate, lock the group, check the
-- course, link it, enroll every member. It ends in ROLLBACK so that every
-- transaction does the full work again (a committed course would make the
-- next addition of it a no-op); the API run commits and uses each course
-- once.
\set c random(:course_lo, :course_hi)
SELECT id, organization_id, role, status, token_version FROM users WHERE id = :manager LIMIT :one;
BEGIN;
SELECT * FROM user_groups WHERE organization_id = :org AND id = :large_group LIMIT :one FOR UPDATE;
SELECT id FROM courses WHERE organization_id = :org AND id IN (bench.id('course', :c));
INSERT INTO user_group_courses (user_group_id, course_id, created_at)
SELECT :large_group, c.id, now() FROM courses c WHERE c.organization_id = :org AND c.id IN (bench.id('course', :c))
ON CONFLICT DO NOTHING;
INSERT INTO enrollments (id, organization_id, user_id, course_id, user_group_id, invitation_id, created_at)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid,
       c.organization_id, m.user_id, c.id, m.user_group_id, NULL, now()
FROM user_group_members m CROSS JOIN courses c
WHERE m.user_group_id = :large_group AND c.organization_id = :org AND c.id IN (bench.id('course', :c))
ON CONFLICT (user_id, course_id) DO NOTHING;
ROLLBACK;
