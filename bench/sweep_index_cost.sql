-- What the sweep's UPDATE costs per index, on the database bench/history.py loads:
--   psql -h 127.0.0.1 -U postgres -d pam_bench_history -f bench/sweep_index_cost.sql
-- Each block makes 20,000 sessions due, then times the sweep's status change with all
-- of the table's indexes, without the four prefix-search indexes, and with only the
-- primary key and the sweep's own partial index. DDL is transactional in PostgreSQL:
-- every block rolls back and the database is left as it was.
\set make_due 'CREATE TEMP TABLE due AS SELECT id FROM sessions_app_consolesession WHERE status = ''expired'' ORDER BY id DESC LIMIT 20000; UPDATE sessions_app_consolesession SET status = ''active'', expires_at = now() - interval ''1 minute'', ended_at = NULL WHERE id IN (SELECT id FROM due);'
\set sweep 'UPDATE sessions_app_consolesession SET status = ''expired'', ended_at = now() WHERE id IN (SELECT id FROM due);'
\set search_indexes 'session_user_email_upper_like, session_role_session_name_upper_like, session_access_key_id_upper_like, session_assumed_role_arn_upper_like'
\set history_indexes 'session_created_idx, session_user_created_idx, session_account_created_idx, session_status_created_idx, session_activated_idx, session_account_activated_idx, session_account_status_idx'

\echo 'all indexes'
BEGIN;
:make_due
\timing on
:sweep
\timing off
ROLLBACK;

\echo 'without the four prefix-search indexes'
BEGIN;
:make_due
DROP INDEX :search_indexes;
\timing on
:sweep
\timing off
ROLLBACK;

\echo 'only the primary key and session_active_expires_idx'
BEGIN;
:make_due
DROP INDEX :search_indexes, :history_indexes;
\timing on
:sweep
\timing off
ROLLBACK;
