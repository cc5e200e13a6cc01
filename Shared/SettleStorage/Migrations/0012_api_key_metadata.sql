-- API keys get an id to name them by (in the API and the CLI), their last four characters
-- (shown beside the non-secret `sk_` prefix so a merchant can tell keys apart; a key made before
-- this has none), an optional expiry (a rolled key's overlap) and when it was last used.
ALTER TABLE api_keys
    ADD COLUMN id           uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN last4        text,
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
