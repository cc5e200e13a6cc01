-- The functions that name Settle's tables, or call Settle's other functions, found them through
-- the caller's search_path: called from a session with another one (an operator's psql with a
-- schema of its own, a maintenance role's default), a partition could not be made, or was made
-- in the wrong schema, and a key could not be taken. Each is pinned to the schema Settle is
-- migrated into; pg_catalog is still searched first.
DO $$
DECLARE
    signature text;
BEGIN
    FOREACH signature IN ARRAY ARRAY[
        'settle_uuid_v7(timestamptz)',
        'settle_create_history_partition(text, timestamptz)',
        'settle_ensure_history_partitions(integer, integer)',
        'settle_expired_history_partitions(interval, interval)',
        'settle_lock_idempotency_keys(uuid[], text[])',
        'settle_take_idempotency_keys(uuid[], text[], text, text, bytea[], uuid[], integer, bytea[], double precision, double precision)'
    ] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I', signature, current_schema());
    END LOOP;
END;
$$;
