-- The relay's outbox: a row stays until the broker acknowledged its message, then it is deleted
-- (the events table is the permanent record), so every row is unpublished and the table stays
-- as small as the backlog. Rows are sharded by their key (the order id) into 16 shards; one
-- relay at a time owns a shard (a PostgreSQL advisory lock), so a key's events are published by
-- one process, in id order. A statement that inserts rows notifies the relays.

DROP INDEX outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;
ALTER TABLE outbox DROP COLUMN shard;
ALTER TABLE outbox ADD COLUMN shard smallint NOT NULL GENERATED ALWAYS AS ((hashtext(key) & 15)::smallint) STORED;
CREATE INDEX outbox_shard_id ON outbox (shard, id);

CREATE FUNCTION settle_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('settle_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION settle_outbox_notify();
