import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// The merchant-visible event log (`GET /v1/events`).
public struct EventStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Longest a call may take, lease included (`PostgresClient.withConnection(deadline:)`).
    let statementDeadline: Duration

    public init(client: PostgresClient, logger: Logger, statementDeadline: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.statementDeadline = statementDeadline
    }

    /// A page of the merchant's events, newest first, optionally of one type. Each event's JSON
    /// is returned as stored, so the API shows exactly what was recorded.
    public func list(merchant: UUID, type: EventType?, page: PageRequest) async throws -> Page<StoredEvent> {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            let rows = try await connection.query(Self.listQuery(merchant: merchant, type: type, page: page), logger: logger)
            var events: [StoredEvent] = []
            for try await (id, orderID, type, data, createdAt) in rows.decode((UUID, UUID?, String, String, Date).self) {
                events.append(StoredEvent(id: id, orderID: orderID, type: type, data: data, createdAt: createdAt))
            }
            return Page(fetched: events, request: page)
        }
    }
}

extension EventStore {
    /// The page query; public so a test can check its plan is an index scan.
    public static func listQuery(merchant: UUID, type: EventType?, page: PageRequest) -> PostgresQuery {
        let type = type?.rawValue
        let fetch = page.limit + 1
        if let newerThan = page.endingBefore {
            return """
                SELECT id, order_id, type, data::text, created_at FROM events
                WHERE merchant_id = \(merchant) AND (\(type)::text IS NULL OR type = \(type)) AND id > \(newerThan)
                ORDER BY id ASC LIMIT \(fetch)
                """
        }
        return """
            SELECT id, order_id, type, data::text, created_at FROM events
            WHERE merchant_id = \(merchant) AND (\(type)::text IS NULL OR type = \(type)) AND id < \(page.olderThan)
            ORDER BY id DESC LIMIT \(fetch)
            """
    }
}

extension EventStore {
    /// Every event made since a moment (`settle verify`'s scan): served by the BRIN index on
    /// `created_at` (migration 0014), since events lie in the order they were made. Public so a
    /// test can check its plan.
    public static func sinceQuery(_ since: Date) -> PostgresQuery {
        "SELECT id, type, created_at FROM events WHERE created_at >= \(since)"
    }
}

/// An event row: its `data` is the JSON recorded when it happened.
public struct StoredEvent: Sendable {
    public var id: UUID
    public var orderID: UUID?
    public var type: String
    public var data: String
    public var createdAt: Date
}
