-- The dispatcher claims per endpoint: for each endpoint with pending deliveries (found by a
-- skip scan of webhook_deliveries_endpoint_pending), its few oldest due ones. A backlog at one
-- endpoint can then never hide another endpoint's deliveries, however old it is.
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at, sequence) WHERE status = 'pending';
-- The deliveries in flight (or left by a sender that died), per endpoint: its used slots.
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id) WHERE status = 'pending' AND lease_until IS NOT NULL;
