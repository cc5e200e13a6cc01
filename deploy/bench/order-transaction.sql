-- pgbench: one order, its event and its outbox row per transaction (what settle-api does per
-- order without group commit). :merchant is set with -D, as a quoted literal.
\set amount random(1, 99999999)
BEGIN;
INSERT INTO orders (id, merchant_id, amount, currency, payment_method, status)
  VALUES (gen_random_uuid(), :merchant, :amount, 'usd', 'pm_card_ok', 'pending');
INSERT INTO outbox (event_id, topic, key, payload) VALUES (gen_random_uuid(), 'orders.v1', 'bench', '{"type":"order.created"}');
COMMIT;
