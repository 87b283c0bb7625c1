-- What an expiry's UPDATE costs, on the database bench/history.py loads:
--   psql -h 127.0.0.1 -U postgres -d pam_bench_history -f bench/sweep_index_cost.sql
-- Makes 20,000 sessions due (committed, then VACUUMed, as after a day without workers),
-- then times the sweep's status change twice, each in a transaction rolled back: with
-- the table as it is (no index holds status, so each row is a heap-only update), and
-- with status back in one index (each row then writes an entry in every index). Each
-- block prints how many of its updates were heap-only. At the end the 20,000 are expired
-- again, as they were.
\set sweep 'UPDATE sessions_app_consolesession SET status = ''expired'', ended_at = now() WHERE id IN (SELECT id FROM sweep_probe_due);'
-- This backend's counters (they also hold its earlier transactions): read before, and
-- the difference after.
\set before 'SELECT n_tup_upd AS upd0, n_tup_hot_upd AS hot0 FROM pg_stat_xact_user_tables WHERE relname = ''sessions_app_consolesession'' \\gset'
\set counts 'SELECT n_tup_upd - :upd0 AS updated, n_tup_hot_upd - :hot0 AS heap_only FROM pg_stat_xact_user_tables WHERE relname = ''sessions_app_consolesession'';'

CREATE TABLE sweep_probe_due AS
  SELECT id FROM sessions_app_consolesession WHERE status = 'expired' ORDER BY id DESC LIMIT 20000;
UPDATE sessions_app_consolesession SET status = 'active', ended_at = NULL
  WHERE id IN (SELECT id FROM sweep_probe_due);
VACUUM ANALYZE sessions_app_consolesession;
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'sessions_app_consolesession'::regclass;

\echo 'as the table is'
BEGIN;
:before
\timing on
:sweep
\timing off
:counts
ROLLBACK;

\echo 'with status back in one index, (status, created_at)'
BEGIN;
CREATE INDEX sweep_probe_status_idx ON sessions_app_consolesession (status, created_at);
:before
\timing on
:sweep
\timing off
:counts
ROLLBACK;

:sweep
DROP TABLE sweep_probe_due;
VACUUM ANALYZE sessions_app_consolesession;
