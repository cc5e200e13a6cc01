-- pgbench: one outbox row per transaction, as an order commit writes it (:topic set with -D, as a quoted literal).
INSERT INTO outbox (event_id, topic, key, payload, headers)
  VALUES (gen_random_uuid(), :topic, gen_random_uuid()::text, '{"type":"order.created"}', '{"event-id":"bench"}');
