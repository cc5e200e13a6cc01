-- History that does not grow forever: `events` in monthly partitions, `idempotency_keys` in
-- daily ones, so retention drops whole partitions (no DELETE, no dead rows, no vacuum debt)
-- and every hot query reads only the partitions its time range can be in.
--
-- `events` is partitioned by its id. Event ids are UUIDv7, whose first 48 bits are the
-- millisecond they were made, so a month of ids is one range of uuids: the primary key stays
-- `id` alone, a lookup by id reads one partition, and `webhook_deliveries` keeps its foreign key
-- (PostgreSQL refuses to detach a partition whose events still have deliveries, so retention
-- deletes those first). A BRIN index on `created_at` serves the time-range scans of
-- `settle verify`: within a partition, rows lie in the order they were made.
--
-- `inbox` (what each consumer handled) is partitioned like `events`, by event id, a month of it
-- beside each month of events: a handled mark is needed while its event can be delivered again
-- (Kafka redelivering, a DLQ replay, `settle restore` republishing the events table), so it goes
-- with its event. A message whose event id is no UUIDv7 of a month with a partition (no event of
-- Settle's) leaves its mark in `inbox_default`, which retention keeps.
--
-- `idempotency_keys` is partitioned by `created_at`. No index can be unique across partitions
-- unless it contains the partition key, so (merchant_id, key) is no longer unique by itself:
-- each partition keeps a unique index of its own, and `settle_take_idempotency_keys` makes a key
-- taken at most once across partitions (an advisory lock per key, then a look at every
-- partition the key could still be live in). Every writer takes keys only through it.
--
-- Partitions are made ahead of time and old ones dropped by `settle_ensure_history_partitions`
-- and the services' retention job (HistoryRetention); this migration makes the partitions for
-- the rows that exist and for the near future.

-- The smallest UUIDv7 of a moment: a partition bound.
CREATE FUNCTION settle_uuid_v7_floor(at timestamptz) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') || '00000000000000000000')::uuid
$$;

-- A new random UUIDv7 of a moment (now by default), for SQL that makes events itself.
CREATE FUNCTION settle_uuid_v7(at timestamptz DEFAULT clock_timestamp()) RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT (left(replace(settle_uuid_v7_floor(at)::text, '-', ''), 12) || '7' || substr(md5(random()::text), 1, 3)
            || '8' || substr(md5(random()::text), 1, 15))::uuid
$$;

-- The moment a UUIDv7 was made (to the millisecond).
CREATE FUNCTION settle_uuid_v7_time(id uuid) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_timestamp(('x' || lpad(left(replace(id::text, '-', ''), 12), 16, '0'))::bit(64)::bigint / 1000.0)
$$;

-- Makes the partition of `events` (and of `inbox`) for the month (UTC) that `at` is in, or of
-- `idempotency_keys` for the day, unless it exists. The table is made on its own and attached,
-- which locks the parent only against other schema changes (SHARE UPDATE EXCLUSIVE); attaching
-- to `events` also locks `webhook_deliveries` against writes (its foreign key) for the moment it
-- takes, and to `inbox` its default partition (checked to hold no row of the new month). One
-- caller at a time (a transaction lock), waiting at most a second for any lock, so writers queue
-- behind it for at most that long. Months and days are UTC's whatever the session's time zone.
CREATE FUNCTION settle_create_history_partition(parent text, at timestamptz) RETURNS boolean LANGUAGE plpgsql
SET TimeZone = 'UTC' SET lock_timeout = '1s' AS $$
DECLARE
    low timestamptz;
    high timestamptz;
    name text;
    made boolean := false;
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

-- Makes the partitions from now to `event_months_ahead` months and `key_days_ahead` days ahead
-- that do not exist yet; returns how many it made.
CREATE FUNCTION settle_ensure_history_partitions(event_months_ahead integer DEFAULT 2, key_days_ahead integer DEFAULT 3)
RETURNS integer LANGUAGE plpgsql
SET TimeZone = 'UTC' AS $$
DECLARE
    made integer := 0;
    at timestamptz;
    parent text;
BEGIN
    -- The days of keys first (the ones soonest needed); each partition on its own, so one that
    -- cannot be made now (a lock not had within the second) does not undo the others.
    FOR parent, at IN
        SELECT 'idempotency_keys', d FROM generate_series(date_trunc('day', now()), now() + make_interval(days => key_days_ahead), interval '1 day') d
        UNION ALL
        SELECT 'events', m FROM generate_series(date_trunc('month', now()), now() + make_interval(months => event_months_ahead), interval '1 month') m
    LOOP
        BEGIN
            made := made + settle_create_history_partition(parent, at)::integer;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'the % partition for % could not be made now: %', parent, at, SQLERRM;
        END;
    END LOOP;
    RETURN made;
END;
$$;

-- The partitions whose every row is past its retention: an `events` (or `inbox`) month that ended more than
-- `event_retention` ago (never, when it is NULL), an `idempotency_keys` day that ended more than
-- `key_retention` ago, with the range of ids an `events` partition holds, whether it is half
-- detached already (a detach that was interrupted) and whether it is attached at all (a run
-- that stopped between its detach and its drop leaves the table on its own). Only partitions named as
-- `settle_create_history_partition` names them are considered.
CREATE FUNCTION settle_expired_history_partitions(event_retention interval, key_retention interval)
RETURNS TABLE (parent text, name text, low_id uuid, high_id uuid, pending boolean, attached boolean) LANGUAGE sql STABLE AS $$
    WITH partitions AS (
        SELECT p.relname::text AS parent, c.relname::text AS name, i.inhdetachpending AS pending, true AS attached
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE i.inhparent IN (to_regclass('events'), to_regclass('inbox'), to_regclass('idempotency_keys'))
        UNION ALL
        -- A partition detached by a run that stopped before its DROP.
        SELECT substring(c.relname FROM '^(events|inbox|idempotency_keys)_'), c.relname::text, false, false
        FROM pg_class c
        WHERE c.relkind = 'r' AND NOT c.relispartition
          AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('events'))
          AND c.relname ~ '^(events_\d{4}_\d{2}|inbox_\d{4}_\d{2}|idempotency_keys_\d{4}_\d{2}_\d{2})$'
    ), ranged AS (
        SELECT parent, name, pending, attached,
               CASE WHEN parent = 'events' AND name ~ '^events_\d{4}_\d{2}$'
                    THEN to_date(substr(name, 8), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC'
                    WHEN parent = 'inbox' AND name ~ '^inbox_\d{4}_\d{2}$'
                    THEN to_date(substr(name, 7), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' END AS month,
               CASE WHEN parent = 'idempotency_keys' AND name ~ '^idempotency_keys_\d{4}_\d{2}_\d{2}$'
                    THEN to_date(substr(name, 18), 'YYYY_MM_DD')::timestamp AT TIME ZONE 'UTC' END AS day
        FROM partitions
    )
    SELECT parent, name, CASE WHEN parent = 'events' THEN settle_uuid_v7_floor(month) END,
           CASE WHEN parent = 'events' THEN settle_uuid_v7_floor(month + interval '1 month') END, pending, attached
    FROM ranged WHERE month IS NOT NULL AND event_retention IS NOT NULL AND month + interval '1 month' < now() - event_retention
    UNION ALL
    SELECT parent, name, NULL, NULL, pending, attached
    FROM ranged WHERE day IS NOT NULL AND day + interval '1 day' < now() - key_retention
    ORDER BY name
$$;

-- events and inbox → partitioned by event id; idempotency_keys → by created_at, without the keys
-- already expired.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;
ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_merchant_id RENAME TO events_unpartitioned_merchant_id;
CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (id);
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_merchant_id ON events (merchant_id, id);
CREATE INDEX events_created_at ON events USING brin (created_at);

ALTER TABLE inbox RENAME TO inbox_unpartitioned;
ALTER INDEX inbox_pkey RENAME TO inbox_unpartitioned_pkey;
CREATE TABLE inbox (LIKE inbox_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (event_id);
ALTER TABLE inbox ADD PRIMARY KEY (consumer, event_id);
CREATE TABLE inbox_default PARTITION OF inbox DEFAULT;

ALTER TABLE idempotency_keys RENAME TO idempotency_keys_unpartitioned;
ALTER INDEX idempotency_keys_pkey RENAME TO idempotency_keys_unpartitioned_pkey;
DROP INDEX idempotency_keys_expires;
CREATE TABLE idempotency_keys (LIKE idempotency_keys_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (created_at);

SELECT settle_create_history_partition('events', at)
FROM (SELECT date_trunc('month', settle_uuid_v7_time(id), 'UTC') AS at FROM events_unpartitioned
      UNION SELECT date_trunc('month', settle_uuid_v7_time(event_id), 'UTC') FROM inbox_unpartitioned
            WHERE substr(event_id::text, 15, 1) = '7') months;
SELECT settle_create_history_partition('idempotency_keys', at)
FROM (SELECT DISTINCT date_trunc('day', created_at, 'UTC') AS at FROM idempotency_keys_unpartitioned WHERE expires_at > now()) days;
SELECT settle_ensure_history_partitions();

INSERT INTO events SELECT * FROM events_unpartitioned;
DROP TABLE events_unpartitioned;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES events (id);
INSERT INTO inbox SELECT * FROM inbox_unpartitioned;
DROP TABLE inbox_unpartitioned;
INSERT INTO idempotency_keys SELECT * FROM idempotency_keys_unpartitioned WHERE expires_at > now();
DROP TABLE idempotency_keys_unpartitioned;

-- Locks `Idempotency-Key`s until the transaction ends: one request at a time per key. The locks
-- are taken in a fixed order, so two batches that share keys never deadlock.
CREATE FUNCTION settle_lock_idempotency_keys(merchants uuid[], keys text[]) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1584864736, h)  -- 0x5E771DE0: idempotency keys
    FROM unnest(ARRAY(SELECT DISTINCT hashtext(b.m::text || '/' || b.k) FROM unnest(merchants, keys) AS b (m, k) ORDER BY 1)) AS h;
END;
$$;

-- Takes `Idempotency-Key`s for requests, in one call for a whole batch; returns the keys taken.
-- A key is free when it has no row made within the retention window that is still live: its
-- answer not yet expired, and, without an answer, its claim not abandoned past `lock_seconds`.
-- Rows that no longer hold their key are deleted when their key is taken again.
--
-- One request at a time per key, across partitions: `settle_lock_idempotency_keys`, held until
-- the caller commits. Each statement below sees what committed before it began (the function
-- is VOLATILE), so after the locks it sees the row of any request that held one of them. A row
-- in another partition is found by time: the window reaches back `retention_seconds` (and to
-- the start of today, where an expired row would hold the partition's unique index) and
-- forward to the moment the locks were held (a transaction that began after this one may have
-- committed before it).
--
-- `claims` (claim tokens, for a request that runs after its key is taken) or `status` and
-- `bodies` (the answer, stored with the key in the request's own transaction); a NULL array
-- gives each key NULL.
CREATE FUNCTION settle_take_idempotency_keys(
    merchants uuid[], keys text[], method text, path text, hashes bytea[], claims uuid[],
    status integer, bodies bytea[], lock_seconds double precision, retention_seconds double precision)
RETURNS TABLE (merchant_id uuid, key text) LANGUAGE plpgsql VOLATILE
-- Index probes, always. PL/pgSQL keeps a generic plan per statement per connection, made from
-- the statistics of its moment: made while a day's partition is new and empty, it scans that
-- partition whole, and goes on doing so all day as the partition fills (measured: PostgreSQL's
-- CPU per order 2.5 times). A key is one row per partition, found by its index or not at all.
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    window_start timestamptz := least(now() - make_interval(secs => retention_seconds), date_trunc('day', now(), 'UTC'));
    window_end timestamptz;
    taken text[];
BEGIN
    PERFORM settle_lock_idempotency_keys(merchants, keys);
    -- A row committed before this moment has a `created_at` (its transaction's start) before it,
    -- even one of a transaction that began after this one's (a minute's slack for the clock):
    -- tomorrow's partition is read only in the last minute of the day.
    window_end := clock_timestamp() + interval '1 minute';

    -- The keys that have a row in the window: usually none, so one index probe per partition
    -- and key is all a new key costs.
    taken := ARRAY(SELECT e.merchant_id::text || '/' || e.key
                   FROM unnest(merchants, keys) AS b (m, k)
                   JOIN idempotency_keys AS e ON e.merchant_id = b.m AND e.key = b.k
                   WHERE e.created_at >= window_start AND e.created_at < window_end);
    IF cardinality(taken) > 0 THEN
        DELETE FROM idempotency_keys AS e USING unnest(merchants, keys) AS b (m, k)
        WHERE e.merchant_id = b.m AND e.key = b.k AND e.created_at >= window_start AND e.created_at < window_end
          AND (e.expires_at <= now() OR (e.response_status IS NULL AND e.locked_at < now() - make_interval(secs => lock_seconds)));
        taken := ARRAY(SELECT e.merchant_id::text || '/' || e.key
                       FROM unnest(merchants, keys) AS b (m, k)
                       JOIN idempotency_keys AS e ON e.merchant_id = b.m AND e.key = b.k
                       WHERE e.created_at >= window_start AND e.created_at < window_end);
    END IF;

    RETURN QUERY
    INSERT INTO idempotency_keys AS n
        (merchant_id, key, request_method, request_path, request_hash, claim, response_status, response_body,
         locked_at, created_at, expires_at)
    SELECT b.m, b.k, method, path, b.h, b.c, status, b.body, now(), now(), now() + make_interval(secs => retention_seconds)
    FROM unnest(merchants, keys, hashes, claims, bodies) AS b (m, k, h, c, body)
    WHERE b.m::text || '/' || b.k <> ALL (taken)
    RETURNING n.merchant_id, n.key;
END;
$$;
