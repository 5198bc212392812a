-- The seat-taking statement of a redemption alone, every client on the same
-- invitation row: the ceiling for seat counting on one hot invitation.
UPDATE invitations SET registrations_used = registrations_used + 1
WHERE id = bench.id('pgbhot', 0) AND status = 'active' AND (expires_at IS NULL OR expires_at > now())
  AND registrations_used < max_registrations;
