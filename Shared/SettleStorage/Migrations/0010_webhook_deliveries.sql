-- Webhook deliveries as the dispatcher sends them: one row per event and subscribed endpoint,
-- written before any HTTP call; claimed with a lease longer than the HTTP time-out, so no
-- delivery is ever in flight twice at once; every attempt kept with its answer; the fan-out
-- order (sequence) for endpoints that want their events strictly in order; and per endpoint,
-- the failure streak that opens its circuit.

ALTER TABLE webhook_deliveries
    ADD COLUMN sequence     bigserial,
    ADD COLUMN lease_until  timestamptz,
    ADD COLUMN lease_token  uuid,
    ADD COLUMN delivered_at timestamptz,
    DROP CONSTRAINT webhook_deliveries_status_check,
    ADD CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'succeeded', 'dead'));
ALTER TABLE webhook_deliveries ALTER COLUMN next_attempt_at SET DEFAULT now();

-- The due deliveries, oldest first; and a FIFO endpoint's earliest undelivered one.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_pending ON webhook_deliveries (endpoint_id, sequence) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id),
    attempt       integer NOT NULL,
    attempted_at  timestamptz NOT NULL,
    status_code   integer,                   -- NULL when no answer came (time-out, refused, refused address)
    latency_ms    integer NOT NULL,
    response_body text,                      -- the first 4 KiB of the answer
    error         text,
    UNIQUE (delivery_id, attempt)
);

ALTER TABLE webhook_endpoints
    ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN failing_since        timestamptz,
    ADD COLUMN circuit_open_until   timestamptz;
