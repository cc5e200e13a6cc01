-- The outbox's payload and headers as text. A relay sends them as bytes and never looks inside;
-- as jsonb, each order's envelope was built value by value in SQL at insert and turned back into
-- text at every read. The group commit now sends each order's envelope and headers already
-- written (the order's JSON is encoded once, for the response, and is the envelope's
-- data.object), which costs PostgreSQL about a third of what building the jsonb did.
--
-- Writers that still build them in SQL (`settle_event_envelope`, `settle_outbox_headers`) need
-- no change: a jsonb value is stored in a text column as its text. Tests and tools that look
-- inside a row cast it: `payload::jsonb->'data'`.
--
-- Changing the type rewrites the table under an exclusive lock; the outbox holds only rows not
-- yet published, so this takes as long as the relays' backlog is large.
ALTER TABLE outbox
    ALTER COLUMN payload TYPE text USING payload::text,
    ALTER COLUMN headers DROP DEFAULT,
    ALTER COLUMN headers TYPE text USING headers::text,
    ALTER COLUMN headers SET DEFAULT '{}';
