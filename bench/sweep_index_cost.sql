-- What the sweep's UPDATE costs per index, on the database bench/history.py loads:
--   psql -h 127.0.0.1 -U postgres -d pam_bench_history -f bench/sweep_index_cost.sql
-- Each block makes 20,000 sessions due, then times the sweep's status change with all
-- of the table's indexes, without the four prefix-search indexes, and with only the
-- primary key and the sweep's own partial index. DDL is transactional in PostgreSQL:
-- every block rolls back and the database is left as it was.
\timing on

\echo 'all indexes'
BEGIN;
CREATE TEMP TABLE due AS SELECT id FROM sessions_app_consolesession
  WHERE status = 'expired' ORDER BY id DESC LIMIT 20000;
UPDATE sessions_app_consolesession SET status = 'active',
  expires_at = now() - interval '1 minute', ended_at = NULL WHERE id IN (SELECT id FROM due);
UPDATE sessions_app_consolesession SET status = 'expired', ended_at = now()
  WHERE id IN (SELECT id FROM due);
ROLLBACK;

\echo 'without the four prefix-search indexes'
BEGIN;
CREATE TEMP TABLE due AS SELECT id FROM sessions_app_consolesession
  WHERE status = 'expired' ORDER BY id DESC LIMIT 20000;
UPDATE sessions_app_consolesession SET status = 'active',
  expires_at = now() - interval '1 minute', ended_at = NULL WHERE id IN (SELECT id FROM due);
DROP INDEX session_user_email_upper_like, session_role_session_name_upper_like,
  session_access_key_id_upper_like, session_assumed_role_arn_upper_like;
UPDATE sessions_app_consolesession SET status = 'expired', ended_at = now()
  WHERE id IN (SELECT id FROM due);
ROLLBACK;

\echo 'only the primary key and session_active_expires_idx'
BEGIN;
CREATE TEMP TABLE due AS SELECT id FROM sessions_app_consolesession
  WHERE status = 'expired' ORDER BY id DESC LIMIT 20000;
UPDATE sessions_app_consolesession SET status = 'active',
  expires_at = now() - interval '1 minute', ended_at = NULL WHERE id IN (SELECT id FROM due);
DROP INDEX session_user_email_upper_like, session_role_session_name_upper_like,
  session_access_key_id_upper_like, session_assumed_role_arn_upper_like,
  session_created_idx, session_user_created_idx, session_account_created_idx,
  session_status_created_idx, session_activated_idx, session_account_activated_idx,
  session_account_status_idx;
UPDATE sessions_app_consolesession SET status = 'expired', ended_at = now()
  WHERE id IN (SELECT id FROM due);
ROLLBACK;
