import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Writes an event row and its outbox row on a connection inside the caller's transaction
/// (DESIGN.md contract clause 1: the state change and its event commit together). The outbox
/// row's envelope and headers are built from the event row by the database
/// (`settle_event_envelope`, `settle_outbox_headers`), like every other writer's.
public enum EventWriter {
    /// `traceparent`: the span the event happened in, which its Kafka message carries (a new
    /// trace when nil).
    static func insert(_ event: Event, traceparent: String? = nil, on connection: PostgresConnection, logger: Logger) async throws {
        try await insert(id: event.id, merchantID: event.merchantID, orderID: event.orderID, type: event.type,
                         data: try SettleJSON.encode(event.payload), createdAt: event.createdAt, traceparent: traceparent,
                         on: connection, logger: logger)
    }

    /// An event whose `data` is already encoded; keyed by its order, or by its own id when it
    /// is about no order.
    static func insert(id: UUID, merchantID: UUID, orderID: UUID?, type: EventType, data: [UInt8], createdAt: Date,
                       traceparent: String? = nil, on connection: PostgresConnection, logger: Logger) async throws {
        let data = String(decoding: data, as: UTF8.self)
        let key = (orderID ?? id).lowercased
        try await connection.query("""
            WITH event AS (
                INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
                VALUES (\(id), \(merchantID), \(orderID), \(type.rawValue), \(data)::jsonb, \(createdAt))
                RETURNING id, merchant_id, type, data, created_at
            )
            INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
            SELECT id, \(type.topic), \(key), settle_event_envelope(id, type, merchant_id, created_at, data),
                   settle_outbox_headers(id, type, \(traceparent ?? TraceParent.random())), created_at
            FROM event
            """, logger: logger)
    }

    /// Puts every event not in the outbox back into it, in the order the events were made (so
    /// each order's events keep theirs on its topic), keyed and enveloped as `insert` does, each
    /// with a new trace: the relays publish them all again (`settle restore` rebuilds Kafka's
    /// topics so). Returns how many rows it queued.
    public static func requeueAll(client: PostgresClient, logger: Logger) async throws -> Int {
        let types = EventType.allCases.map(\.rawValue), topics = EventType.allCases.map(\.topic)
        let rows = try await client.query("""
            INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
            SELECT e.id, t.topic, coalesce(e.order_id, e.id)::text, settle_event_envelope(e.id, e.type, e.merchant_id, e.created_at, e.data),
                   settle_outbox_headers(e.id, e.type, '00-' || md5(e.id::text || clock_timestamp()::text) || '-'
                                                       || left(md5(clock_timestamp()::text || e.id::text), 16) || '-00'),
                   e.created_at
            FROM events e JOIN unnest(\(types)::text[], \(topics)::text[]) AS t (type, topic) ON t.type = e.type
            WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id)
            ORDER BY e.id
            RETURNING 1
            """, logger: logger)
        var total = 0
        for try await _ in rows.decode(Int.self) { total += 1 }
        return total
    }
}
