-- Each webhook delivery keeps the `traceparent` of the Kafka message it was fanned out from (the
-- span its event happened in), so every attempt, however late on the retry schedule, is a span of
-- the order's trace and the webhook request carries it on. Null for deliveries made before this.
ALTER TABLE webhook_deliveries ADD COLUMN traceparent text;
