import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Writes an event row and its outbox row on a connection inside the caller's transaction
/// (DESIGN.md contract clause 1: the state change and its event commit together). The outbox
/// row's envelope and headers are built from the event row by the database
/// (`settle_event_envelope`, `settle_outbox_headers`), like every other writer's.
enum EventWriter {
    static func insert(_ event: Event, on connection: PostgresConnection, logger: Logger) async throws {
        let data = String(decoding: try SettleJSON.encode(event.payload), as: UTF8.self)
        let type = event.type.rawValue
        let key = (event.orderID ?? event.id).lowercased
        try await connection.query("""
            WITH event AS (
                INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
                VALUES (\(event.id), \(event.merchantID), \(event.orderID), \(type), \(data)::jsonb, \(event.createdAt))
                RETURNING id, merchant_id, type, data, created_at
            )
            INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
            SELECT id, \(event.type.topic), \(key), settle_event_envelope(id, type, merchant_id, created_at, data),
                   settle_outbox_headers(id, type, \(TraceParent.random())), created_at
            FROM event
            """, logger: logger)
    }
}
