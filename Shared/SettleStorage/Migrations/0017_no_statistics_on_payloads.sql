-- ANALYZE gathered statistics on columns no query filters, joins or sorts by: an event's
-- `data`, an order's metadata and description, the outbox's message and headers, an idempotency
-- key's answer and request hash. Sorting thousands of sampled JSON documents and texts for their
-- histograms was most of the autovacuum's CPU under a steady ingest (about a tenth of the
-- server's CPU per order). The planner never reads these statistics, so they are no longer made.
ALTER TABLE events ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE orders ALTER COLUMN metadata SET STATISTICS 0;
ALTER TABLE orders ALTER COLUMN description SET STATISTICS 0;
ALTER TABLE outbox ALTER COLUMN payload SET STATISTICS 0;
ALTER TABLE outbox ALTER COLUMN headers SET STATISTICS 0;
ALTER TABLE idempotency_keys ALTER COLUMN response_body SET STATISTICS 0;
ALTER TABLE idempotency_keys ALTER COLUMN request_hash SET STATISTICS 0;

-- Partitions made from now on keep their parent's choice.
CREATE OR REPLACE FUNCTION settle_create_history_partition(parent text, at timestamptz) RETURNS boolean LANGUAGE plpgsql
SET TimeZone = 'UTC' SET lock_timeout = '1s' AS $$
DECLARE
    low timestamptz;
    high timestamptz;
    name text;
    made boolean := false;
    column_name name;
BEGIN
    IF parent = 'events' THEN
        low := date_trunc('month', at, 'UTC');
        high := low + interval '1 month';
        name := 'events_' || to_char(low AT TIME ZONE 'UTC', 'YYYY_MM');
    ELSIF parent = 'idempotency_keys' THEN
        low := date_trunc('day', at, 'UTC');
        high := low + interval '1 day';
        name := 'idempotency_keys_' || to_char(low AT TIME ZONE 'UTC', 'YYYY_MM_DD');
    ELSE
        RAISE EXCEPTION 'no partitions for %', parent;
    END IF;
    PERFORM pg_advisory_xact_lock(1584859687, 1);  -- 0x5E770A27: partition maintenance
    IF to_regclass(quote_ident(name)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, parent);
        -- A column the parent keeps no statistics on gets none in the partition either (LIKE
        -- does not copy a column's statistics target).
        FOR column_name IN
            SELECT a.attname FROM pg_attribute AS a
            WHERE a.attrelid = parent::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget = 0
        LOOP
            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS 0', name, column_name);
        END LOOP;
        IF parent = 'events' THEN
            EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           name, settle_uuid_v7_floor(low), settle_uuid_v7_floor(high));
        ELSE
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (merchant_id, key)', name || '_merchant_key', name);
            EXECUTE format('ALTER TABLE idempotency_keys ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, low, high);
        END IF;
        made := true;
    END IF;
    -- The inbox's month beside the events' (attaching it moves nothing: no row of
    -- inbox_default is a UUIDv7 of a month not yet made, since months are made ahead).
    name := 'inbox_' || to_char(low AT TIME ZONE 'UTC', 'YYYY_MM');
    IF parent = 'events' AND to_regclass(quote_ident(name)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I (LIKE inbox INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        EXECUTE format('ALTER TABLE inbox ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       name, settle_uuid_v7_floor(low), settle_uuid_v7_floor(high));
        made := true;
    END IF;
    RETURN made;
END;
$$;

-- CREATE OR REPLACE set the function's settings anew: pinned to Settle's schema again (as 0016).
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION settle_create_history_partition(text, timestamptz) SET search_path = %I', current_schema());
END;
$$;
