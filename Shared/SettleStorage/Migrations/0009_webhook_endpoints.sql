-- Webhook endpoints as merchants manage them through the API: a description, the FIFO option
-- (events delivered one at a time, in order), a previous secret that keeps signing beside the
-- new one for a while after a rotation, and when and why an endpoint was disabled
-- ('manual', 'gone' after a 410, 'failing' after days without a success).

ALTER TABLE webhook_endpoints
    ADD COLUMN description text CHECK (description IS NULL OR length(description) <= 500),
    ADD COLUMN fifo boolean NOT NULL DEFAULT false,
    ADD COLUMN previous_secret text,
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT webhook_endpoints_url_length CHECK (length(url) BETWEEN 1 AND 2048),
    ADD CONSTRAINT webhook_endpoints_enabled_events CHECK (cardinality(enabled_events) >= 1),
    ADD CONSTRAINT webhook_endpoints_previous_secret
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL)),
    ADD CONSTRAINT webhook_endpoints_disabled_reason
        CHECK (disabled_reason IS NULL OR disabled_reason IN ('manual', 'gone', 'failing'));

-- A merchant's live endpoints, newest first (the list route and the per-merchant limit).
DROP INDEX webhook_endpoints_merchant;
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, id) WHERE deleted_at IS NULL;
