import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Writes an event row and its outbox row on a connection inside the caller's transaction
/// (DESIGN.md contract clause 1: the state change and its event commit together).
enum EventWriter {
    static func insert(_ event: Event, on connection: PostgresConnection, logger: Logger) async throws {
        let data = String(decoding: try SettleJSON.encode(event.payload), as: UTF8.self)
        let envelope = String(decoding: try SettleJSON.encode(event.envelope), as: UTF8.self)
        let headers = String(decoding: try SettleJSON.encode(OutboxHeaders(event: event)), as: UTF8.self)
        let type = event.type.rawValue
        let key = (event.orderID ?? event.id).lowercased
        try await connection.query("""
            INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
            VALUES (\(event.id), \(event.merchantID), \(event.orderID), \(type), \(data)::jsonb, \(event.createdAt))
            """, logger: logger)
        try await connection.query("""
            INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
            VALUES (\(event.id), \(event.type.topic), \(key), \(envelope)::jsonb, \(headers)::jsonb, \(event.createdAt))
            """, logger: logger)
    }
}

/// The Kafka headers the relay puts on an event's message.
struct OutboxHeaders: Encodable {
    var eventID: String
    var eventType: String
    /// W3C trace context: the trace the event starts (requests do not carry one in yet).
    var traceparent: String

    init(event: Event) {
        eventID = event.id.lowercased
        eventType = event.type.rawValue
        var generator = SystemRandomNumberGenerator()
        let traceID = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let spanID = (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }
        traceparent = "00-\(Hex.encode(traceID))-\(Hex.encode(spanID))-01"
    }

    enum CodingKeys: String, CodingKey {
        case eventID = "event-id", eventType = "event-type", traceparent
    }
}
