import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Merchants' webhook endpoints (`/v1/webhook-endpoints`). Every change runs in one transaction
/// with the completion of its `Idempotency-Key` claim, so a retried POST replays its answer.
/// A deleted endpoint keeps its row (its deliveries refer to it) and is gone from the API.
public struct WebhookEndpointStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// How many live endpoints a merchant may have.
    public let limit: Int
    /// Longest a call may take, lease included; past it the call fails with `DatabaseUnavailable`
    /// and its connection is closed (`PostgresClient.withConnection(deadline:)`).
    let statementDeadline: Duration

    public init(client: PostgresClient, logger: Logger, limit: Int = 16, statementDeadline: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.limit = limit
        self.statementDeadline = statementDeadline
    }

    public enum CreateOutcome: Sendable {
        case created(WebhookEndpoint)
        /// The merchant already has `limit` live endpoints.
        case limitReached
    }

    /// An endpoint's answer to the request that changed it, stored under the request's key.
    public typealias Answer = @Sendable (WebhookEndpoint?) -> (status: Int, body: [UInt8])

    public func create(
        merchant: UUID, _ new: NewWebhookEndpoint, secret: String, claim: IdempotencyClaim?,
        response: @escaping @Sendable (CreateOutcome) -> (status: Int, body: [UInt8])
    ) async throws -> CreateOutcome {
        try await client.withTransaction(deadline: statementDeadline, logger: logger) { [logger, limit] connection in
            // One creation per merchant at a time, so two concurrent creations cannot both pass the limit.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(merchant.uuidString), 9))", logger: logger)
            var live = 0
            for try await count in try await connection.query("""
                SELECT count(*)::int FROM webhook_endpoints WHERE merchant_id = \(merchant) AND deleted_at IS NULL
                """, logger: logger).decode(Int.self) { live = count }
            let outcome: CreateOutcome
            if live >= limit {
                outcome = .limitReached
            } else {
                let rows = try await connection.query("""
                    INSERT INTO webhook_endpoints (id, merchant_id, url, secret, enabled_events, description, fifo)
                    VALUES (\(UUIDv7.make()), \(merchant), \(new.url.text), \(secret), \(new.enabledEvents), \(new.description), \(new.fifo))
                    RETURNING \(unescaped: Self.selectList)
                    """, logger: logger)
                guard let endpoint = try await Self.endpoints(rows).first else { throw CorruptRow(table: "webhook_endpoints", detail: "insert returned nothing") }
                outcome = .created(endpoint)
            }
            if let claim {
                let (status, body) = response(outcome)
                try await claim.complete(status: status, body: body, on: connection, logger: logger)
            }
            return outcome
        }
    }

    public func find(_ id: UUID, merchant: UUID) async throws -> WebhookEndpoint? {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await Self.endpoints(try await connection.query("""
                SELECT \(unescaped: Self.selectList) FROM webhook_endpoints
                WHERE id = \(id) AND merchant_id = \(merchant) AND deleted_at IS NULL
                """, logger: logger)).first
        }
    }

    /// A page of the merchant's live endpoints, newest first.
    public func list(merchant: UUID, page: PageRequest) async throws -> Page<WebhookEndpoint> {
        let fetch = page.limit + 1
        let query: PostgresQuery
        if let newerThan = page.endingBefore {
            query = """
                SELECT \(unescaped: Self.selectList) FROM webhook_endpoints
                WHERE merchant_id = \(merchant) AND deleted_at IS NULL AND id > \(newerThan)
                ORDER BY id ASC LIMIT \(fetch)
                """
        } else {
            query = """
                SELECT \(unescaped: Self.selectList) FROM webhook_endpoints
                WHERE merchant_id = \(merchant) AND deleted_at IS NULL AND id < \(page.olderThan)
                ORDER BY id DESC LIMIT \(fetch)
                """
        }
        return try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            Page(fetched: try await Self.endpoints(try await connection.query(query, logger: logger)), request: page)
        }
    }

    /// Deletes a live endpoint; false if there was none. Its pending deliveries are not sent.
    public func delete(_ id: UUID, merchant: UUID) async throws -> Bool {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            for try await _ in try await connection.query("""
                UPDATE webhook_endpoints SET deleted_at = now(), updated_at = now()
                WHERE id = \(id) AND merchant_id = \(merchant) AND deleted_at IS NULL
                RETURNING 1
                """, logger: logger) { return true }
            return false
        }
    }

    /// Enables an endpoint (clearing why it was disabled and its record of failures, so it starts
    /// with a closed circuit) or disables it by the merchant's hand.
    public func setEnabled(_ enabled: Bool, id: UUID, merchant: UUID, claim: IdempotencyClaim?,
                           response: @escaping Answer) async throws -> WebhookEndpoint? {
        let reason: String? = enabled ? nil : WebhookEndpoint.DisabledReason.manual.rawValue
        return try await change(claim: claim, response: response) { [logger] connection in
            try await connection.query("""
                UPDATE webhook_endpoints
                SET enabled = \(enabled), disabled_reason = \(reason),
                    disabled_at = CASE WHEN \(enabled) THEN NULL ELSE coalesce(disabled_at, now()) END,
                    consecutive_failures = CASE WHEN \(enabled) THEN 0 ELSE consecutive_failures END,
                    failing_since = CASE WHEN \(enabled) THEN NULL ELSE failing_since END,
                    circuit_open_until = CASE WHEN \(enabled) THEN NULL ELSE circuit_open_until END,
                    updated_at = now()
                WHERE id = \(id) AND merchant_id = \(merchant) AND deleted_at IS NULL
                RETURNING \(unescaped: Self.selectList)
                """, logger: logger)
        }
    }

    /// Gives an endpoint a new secret; the current one keeps signing beside it for `overlap`
    /// (a secret rotated again within that time is dropped: two secrets sign at most).
    public func rotateSecret(id: UUID, merchant: UUID, secret: String, overlap: Duration, claim: IdempotencyClaim?,
                             response: @escaping Answer) async throws -> WebhookEndpoint? {
        return try await change(claim: claim, response: response) { [logger] connection in
            try await connection.query("""
                UPDATE webhook_endpoints
                SET previous_secret = secret, previous_secret_expires_at = now() + make_interval(secs => \(overlap.seconds)),
                    secret = \(secret), updated_at = now()
                WHERE id = \(id) AND merchant_id = \(merchant) AND deleted_at IS NULL
                RETURNING \(unescaped: Self.selectList)
                """, logger: logger)
        }
    }

    /// The secrets that sign an endpoint's deliveries now: the current one, then the previous
    /// one while it has not expired.
    public func signingSecrets(_ id: UUID) async throws -> [String] {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            for try await (secret, previous) in try await connection.query("""
                SELECT secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END
                FROM webhook_endpoints WHERE id = \(id)
                """, logger: logger).decode((String, String?).self) {
                return [secret] + (previous.map { [$0] } ?? [])
            }
            return []
        }
    }

    /// The signing secrets of every live endpoint whose URL starts with `base` (a receiver on the
    /// local stack verifies with them, as a merchant's receiver would with its own).
    public func signingSecrets(urlsStartingWith base: String) async throws -> [String] {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            var secrets: [String] = []
            for try await (secret, previous) in try await connection.query("""
                SELECT secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END
                FROM webhook_endpoints WHERE deleted_at IS NULL AND left(url, length(\(base))) = \(base)
                """, logger: logger).decode((String, String?).self) {
                secrets.append(secret)
                if let previous { secrets.append(previous) }
            }
            return secrets
        }
    }

    private func change(
        claim: IdempotencyClaim?, response: @escaping Answer,
        _ update: @escaping @Sendable (PostgresConnection) async throws -> PostgresRowSequence
    ) async throws -> WebhookEndpoint? {
        try await client.withTransaction(deadline: statementDeadline, logger: logger) { [logger] connection in
            let endpoint = try await Self.endpoints(try await update(connection)).first
            if let claim {
                let (status, body) = response(endpoint)
                try await claim.complete(status: status, body: body, on: connection, logger: logger)
            }
            return endpoint
        }
    }

    static let selectList = "id, merchant_id, url, description, enabled_events, fifo, enabled, disabled_reason, created_at"

    static func endpoints(_ rows: PostgresRowSequence) async throws -> [WebhookEndpoint] {
        var endpoints: [WebhookEndpoint] = []
        for try await (id, merchant, url, description, events, fifo, enabled, reason, createdAt)
            in rows.decode((UUID, UUID, String, String?, [String], Bool, Bool, String?, Date).self) {
            let disabledReason = try reason.map { text in
                guard let reason = WebhookEndpoint.DisabledReason(rawValue: text) else {
                    throw CorruptRow(table: "webhook_endpoints", detail: "disabled_reason \(text)")
                }
                return reason
            }
            endpoints.append(WebhookEndpoint(id: id, merchantID: merchant, url: url, description: description, enabledEvents: events,
                                             fifo: fifo, enabled: enabled, disabledReason: disabledReason, createdAt: createdAt))
        }
        return endpoints
    }
}
