-- The relay reads a row only once its transaction is older than every transaction still in
-- progress (its xact_id is below the snapshot's xmin), and reads in (xact_id, id) order. Rows
-- below the xmin are final: no transaction can still add one there, so a relay that remembers
-- the last (xact_id, id) it published can never skip a row that commits late (the bigserial
-- gap), and no clock decides what is read. Per order, (xact_id, id) order is commit order,
-- because every transaction that writes an order's event takes the order's row lock as its first
-- write (which is when PostgreSQL gives it its transaction id), so a later writer of the same
-- order has a later id and inserts only after the earlier one committed.

CREATE INDEX outbox_shard_xact_id ON outbox (shard, xact_id, id);
DROP INDEX outbox_shard_id;
