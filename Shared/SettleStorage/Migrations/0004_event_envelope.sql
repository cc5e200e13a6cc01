-- An event's Kafka message is derived from its row in one place: the envelope
-- {id, type, version, occurred_at, merchant_id, data} (DESIGN.md "Kafka topics") and the headers
-- the relay sends with it. Every writer of outbox rows builds them with these functions, so the
-- database, not each writer, owns the wire format.

CREATE FUNCTION settle_event_envelope(event_id uuid, type text, merchant_id uuid, occurred_at timestamptz, data jsonb)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'id', event_id, 'type', type, 'version', 1,
        'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'merchant_id', merchant_id, 'data', data)
$$;

CREATE FUNCTION settle_outbox_headers(event_id uuid, type text, traceparent text)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('event-id', event_id, 'event-type', type, 'traceparent', traceparent)
$$;
