-- Dead letters: every message a consumer gave up on, kept in PostgreSQL beside its copy on the
-- dead-letter topic (DESIGN.md "Kafka topics"), so `settle dlq list` can say what is
-- dead-lettered, why and how often, `settle dlq replay` can send it back, and the DLQ-depth
-- gauge (rows not replayed) can fire an alert. A consumer writes the row before it publishes to
-- the dead-letter topic and commits its offset only after both, so a crash in between repeats the
-- row's insert, which the unique index turns into nothing.

CREATE TABLE dead_letters (
    id                 bigserial PRIMARY KEY,
    topic              text NOT NULL,          -- the dead-letter topic
    original_topic     text NOT NULL,          -- where a replay sends it
    source_topic       text NOT NULL,          -- where it was read when it failed (a retry topic, say)
    source_partition   integer NOT NULL,
    source_offset      bigint NOT NULL,
    consumer_group     text NOT NULL,
    event_id           uuid,                   -- NULL when the message could not be decoded
    key                text,
    payload            bytea NOT NULL,
    headers            jsonb NOT NULL,         -- the message's own headers, [{"key", "value"}], without retry-* and dlq-*
    error_class        text NOT NULL,
    error_message      text NOT NULL,
    attempts           integer NOT NULL,
    dead_letter_count  integer NOT NULL,       -- how often this message has been dead-lettered, this time included
    first_failed_at    timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    replayed_at        timestamptz,
    replayed_to        text
);
-- One row per message read: the development broker forgets offsets when it restarts, so the
-- payload's digest tells a new message at a reused offset from the same one read again.
CREATE UNIQUE INDEX dead_letters_source ON dead_letters (consumer_group, source_topic, source_partition, source_offset, md5(payload));
CREATE INDEX dead_letters_open ON dead_letters (topic, id) WHERE replayed_at IS NULL;
