-- The seat-taking statement of a redemption alone, spread over the 200
-- pgbench-pool invitations: the ceiling for seat counting when rows do not
-- contend.
\set i random(0, :n - 1)
UPDATE invitations SET registrations_used = registrations_used + 1
WHERE id = bench.id('pgbinv', :i) AND status = 'active' AND (expires_at IS NULL OR expires_at > now())
  AND registrations_used < max_registrations;
