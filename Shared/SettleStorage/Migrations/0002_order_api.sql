-- The order API: a version per order for the read cache, and a claim token per idempotency key
-- so a request that lost its claim (held past the lock time-out) can never complete it.

ALTER TABLE orders ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE idempotency_keys ADD COLUMN claim uuid;
ALTER TABLE idempotency_keys ADD COLUMN locked_at timestamptz NOT NULL DEFAULT now();
