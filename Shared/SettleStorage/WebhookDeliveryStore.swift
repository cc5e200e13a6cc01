import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// The dispatcher's table of deliveries (migrations 0001, 0010, 0011). An event becomes one row per
/// subscribed endpoint before any HTTP call; rows are claimed with a lease longer than the HTTP
/// time-out, so no delivery is in flight twice at once and one whose sender died is claimed
/// again when its lease ends; each attempt's answer and what follows from it commit together.
public struct WebhookDeliveryStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Every call (the dispatcher's fan-out, claim and record, the API's list and retry) runs
    /// within this on a connection of its own, closed if it goes silent
    /// (`PostgresClient.withConnection(deadline:)`).
    let statementDeadline: Duration

    public init(client: PostgresClient, logger: Logger, statementDeadline: Duration = .seconds(10)) {
        self.statementDeadline = statementDeadline
        self.client = client
        self.logger = logger
    }

    /// Writes a delivery of event `eventID` for each enabled endpoint of its merchant subscribed
    /// to its type and made no later than the event (none twice, however often the event
    /// arrives). Nil if there is no such event.
    public func fanOut(eventID: UUID, traceparent: String? = nil) async throws -> Int? {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await Self.fanOut(eventID: eventID, traceparent: traceparent, on: connection, logger: logger)
        }
    }

    private static func fanOut(eventID: UUID, traceparent: String?, on connection: PostgresConnection, logger: Logger) async throws -> Int? {
        var known = false
        var written = 0
        for try await (exists, count) in try await connection.query("""
            WITH event AS (SELECT id, merchant_id, type, created_at FROM events WHERE id = \(eventID)),
            written AS (
                INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at, traceparent)
                SELECT gen_random_uuid(), event.id, endpoint.id, 'pending', now(), \(traceparent)
                FROM event JOIN webhook_endpoints endpoint ON endpoint.merchant_id = event.merchant_id
                -- An endpoint gets the events that happen once it exists: not older ones that
                -- arrive again (a replay, a restore that republishes the history).
                WHERE endpoint.enabled AND endpoint.deleted_at IS NULL AND endpoint.created_at <= event.created_at
                  AND (event.type = ANY (endpoint.enabled_events) OR '*' = ANY (endpoint.enabled_events))
                ORDER BY endpoint.id
                ON CONFLICT (event_id, endpoint_id) DO NOTHING
                RETURNING 1
            )
            SELECT EXISTS (SELECT 1 FROM event), (SELECT count(*)::int FROM written)
            """, logger: logger).decode((Bool, Int).self) {
            known = exists
            written = count
        }
        return known ? written : nil
    }

    /// A claimed delivery, with everything its attempt needs.
    public struct Claimed: Sendable {
        public var id: UUID
        public var eventID: UUID
        public var endpointID: UUID
        public var url: String
        /// Current secret first, then the previous one while it still signs.
        public var secrets: [String]
        /// The event envelope, byte for byte the same on every attempt.
        public var body: [UInt8]
        /// This attempt's number, 1 for the first.
        public var attempt: Int
        /// Proves the claim when the outcome is recorded.
        public var token: UUID
        /// The span the event happened in (nil for a delivery older than traces).
        public var traceparent: String?
    }

    /// Claims up to `limit` due deliveries for `lease`: at most `perEndpoint` in flight per
    /// endpoint (one for a FIFO endpoint, and only its earliest undelivered delivery), none
    /// for an endpoint that is disabled or whose circuit is open. Candidates are taken per
    /// endpoint (its few oldest due ones), so no backlog at one endpoint hides another's. A
    /// delivery another sender holds is never claimed: the lease is checked again under the
    /// row's lock. An endpoint whose circuit has just closed again (still `health.failures`
    /// failures in a row) gets one.
    public func claim(limit: Int, perEndpoint: Int, health: WebhookEndpointHealth, lease: Duration) async throws -> [Claimed] {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await Self.claim(limit: limit, perEndpoint: perEndpoint, health: health, lease: lease, on: connection, logger: logger)
        }
    }

    private static func claim(limit: Int, perEndpoint: Int, health: WebhookEndpointHealth, lease: Duration,
                              on connection: PostgresConnection, logger: Logger) async throws -> [Claimed] {
        let token = UUID()
        let leaseSeconds = lease.seconds
        var ids: [UUID] = []
        for try await id in try await connection.query(Self.claimQuery(limit: limit, perEndpoint: perEndpoint, failures: health.failures,
                                                                    leaseSeconds: leaseSeconds, token: token),
                                                    logger: logger).decode(UUID.self) {
            ids.append(id)
        }
        guard !ids.isEmpty else { return [] }
        var claimed: [Claimed] = []
        for try await (id, eventID, endpointID, url, secret, previous, body, attempts, traceparent) in try await connection.query("""
            SELECT d.id, d.event_id, e.id, e.url, e.secret, CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END,
                   settle_event_envelope(ev.id, ev.type, ev.merchant_id, ev.created_at, ev.data)::text, d.attempts, d.traceparent
            FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN events ev ON ev.id = d.event_id
            WHERE d.id = ANY (\(ids)) AND d.lease_token = \(token)
            """, logger: logger).decode((UUID, UUID, UUID, String, String, String?, String, Int32, String?).self) {
            claimed.append(Claimed(id: id, eventID: eventID, endpointID: endpointID, url: url, secrets: [secret] + (previous.map { [$0] } ?? []),
                                   body: Array(body.utf8), attempt: Int(attempts), token: token, traceparent: traceparent))
        }
        return claimed
    }

    /// The claim's statement (public for the query-plan test): leases up to `limit` due
    /// deliveries, taken per endpoint, and returns their ids.
    public static func claimQuery(limit: Int, perEndpoint: Int, failures: Int, leaseSeconds: Double, token: UUID) -> PostgresQuery {
        """
            WITH RECURSIVE pending_endpoints AS (
                -- Every endpoint with a pending delivery: one index probe each, not a scan of the backlog.
                (SELECT endpoint_id FROM webhook_deliveries WHERE status = 'pending' ORDER BY endpoint_id LIMIT 1)
                UNION ALL
                SELECT (SELECT d.endpoint_id FROM webhook_deliveries d
                        WHERE d.status = 'pending' AND d.endpoint_id > p.endpoint_id ORDER BY d.endpoint_id LIMIT 1)
                FROM pending_endpoints p WHERE p.endpoint_id IS NOT NULL
            ),
            open AS (
                SELECT e.id, e.fifo,
                       CASE WHEN e.fifo OR e.consecutive_failures >= \(failures) THEN 1 ELSE \(perEndpoint) END
                       - (SELECT count(*) FROM webhook_deliveries held
                          WHERE held.endpoint_id = e.id AND held.status = 'pending'
                            AND held.lease_until IS NOT NULL AND held.lease_until >= now()) AS free
                FROM pending_endpoints p JOIN webhook_endpoints e ON e.id = p.endpoint_id
                WHERE e.enabled AND e.deleted_at IS NULL AND (e.circuit_open_until IS NULL OR e.circuit_open_until < now())
            ),
            due AS (
                SELECT candidate.id, candidate.next_attempt_at
                FROM open CROSS JOIN LATERAL (
                    (SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                     WHERE NOT open.fifo AND d.endpoint_id = open.id AND d.status = 'pending' AND d.next_attempt_at <= now()
                       AND (d.lease_until IS NULL OR d.lease_until < now())
                     ORDER BY d.next_attempt_at, d.sequence
                     LIMIT greatest(open.free, 0))
                    UNION ALL
                    -- A FIFO endpoint: its earliest undelivered delivery, once it is due, and nothing else.
                    SELECT first.id, first.next_attempt_at FROM (
                        SELECT d.id, d.next_attempt_at, d.lease_until FROM webhook_deliveries d
                        WHERE open.fifo AND d.endpoint_id = open.id AND d.status = 'pending'
                        ORDER BY d.sequence LIMIT 1
                    ) first
                    WHERE first.next_attempt_at <= now() AND (first.lease_until IS NULL OR first.lease_until < now())
                ) candidate
                WHERE open.free > 0
            ),
            chosen AS (
                SELECT id FROM due ORDER BY next_attempt_at LIMIT \(limit)
            )
            UPDATE webhook_deliveries d
            SET lease_until = now() + make_interval(secs => \(leaseSeconds)), lease_token = \(token), attempts = d.attempts + 1,
                updated_at = now()
            FROM chosen
            WHERE d.id = chosen.id AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until < now())
            RETURNING d.id
            """
    }

    /// What an attempt saw.
    public struct Attempt: Sendable {
        public var startedAt: Date
        public var statusCode: Int?
        public var latency: Duration
        public var responseBody: String?
        public var error: String?

        public init(startedAt: Date, statusCode: Int?, latency: Duration, responseBody: String?, error: String?) {
            self.startedAt = startedAt
            self.statusCode = statusCode
            self.latency = latency
            self.responseBody = responseBody
            self.error = error
        }
    }

    /// Records an attempt and its decision in one transaction: the attempt row, the delivery's
    /// new state (released), the endpoint's health, and for a dead delivery its message to
    /// `deadLetterTopic` through the outbox. False if the claim was no longer this sender's.
    public func record(_ delivery: Claimed, _ attempt: Attempt, decision: WebhookRetryPolicy.Decision, health: WebhookEndpointHealth,
                       deadLetterTopic: String) async throws -> Bool {
        let latencyMs = Int32(clamping: attempt.latency.milliseconds)
        let (status, retryInSeconds): (String, Double) = switch decision {
        case .delivered: ("succeeded", 0)
        case .retry(let after): ("pending", after.seconds)
        case .dead, .gone: ("dead", 0)
        }
        let succeeded = decision == .delivered
        let code = attempt.statusCode.map(Int32.init)
        return try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await connection.withTransaction(logger: logger) { connection in
                var owned = false
                for try await _ in try await connection.query("""
                    UPDATE webhook_deliveries
                    SET status = \(status), next_attempt_at = now() + make_interval(secs => \(retryInSeconds)),
                        last_status_code = \(code), last_error = \(attempt.error), last_response = \(attempt.responseBody),
                        delivered_at = CASE WHEN \(succeeded) THEN now() END, lease_until = NULL, lease_token = NULL, updated_at = now()
                    WHERE id = \(delivery.id) AND lease_token = \(delivery.token)
                    RETURNING 1
                    """, logger: logger) { owned = true }
                guard owned else { return false }
                try await connection.query("""
                    INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, response_body, error)
                    VALUES (\(delivery.id), \(Int32(delivery.attempt)), \(attempt.startedAt), \(code), \(latencyMs), \(attempt.responseBody), \(attempt.error))
                    ON CONFLICT (delivery_id, attempt) DO NOTHING
                    """, logger: logger)
                if succeeded {
                    try await connection.query("""
                        UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL, circuit_open_until = NULL
                        WHERE id = \(delivery.endpointID) AND consecutive_failures > 0
                        """, logger: logger)
                } else if try await Self.recordFailure(of: delivery.endpointID, gone: decision == .gone, health: health, on: connection, logger: logger) {
                    try await Self.recordDisabled(delivery.endpointID, on: connection, logger: logger)
                }
                if status == "dead" {
                    let errorClass = decision == .gone ? "endpoint_gone" : "webhook_attempts_exhausted"
                    let message = attempt.statusCode.map { "the last attempt was answered \($0)" } ?? (attempt.error ?? "the last attempt failed")
                    try await connection.query("""
                        INSERT INTO outbox (event_id, topic, key, payload, headers)
                        SELECT gen_random_uuid(), \(deadLetterTopic), coalesce(ev.order_id, ev.id)::text,
                               settle_event_envelope(ev.id, ev.type, ev.merchant_id, ev.created_at, ev.data),
                               settle_outbox_headers(ev.id, ev.type, \(TraceParent.random())) || jsonb_build_object(
                                   'dlq-original-topic', \(KafkaTopics.payments), 'dlq-consumer-group', 'settle-dispatcher',
                                   'dlq-error-class', \(errorClass), 'dlq-error-message', \(message),
                                   'dlq-attempts', \(String(delivery.attempt)), 'dlq-webhook-endpoint-id', \(delivery.endpointID),
                                   'dlq-webhook-delivery-id', \(delivery.id))
                        FROM events ev WHERE ev.id = \(delivery.eventID)
                        """, logger: logger)
                }
                return true
            }
        }
    }

    /// Counts a failed attempt against its endpoint: opens the circuit after `health.failures`
    /// in a row, and disables the endpoint when it answered 410 or has failed every attempt
    /// for `health.disableAfter`. True if this failure disabled it.
    private static func recordFailure(of endpoint: UUID, gone: Bool, health: WebhookEndpointHealth,
                                      on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var disabledNow = false
        for try await value in try await connection.query("""
            WITH before AS (SELECT id, enabled, failing_since FROM webhook_endpoints WHERE id = \(endpoint) FOR UPDATE),
            verdict AS (
                SELECT id, enabled AND \(gone) AS gone,
                       enabled AND coalesce(failing_since, now()) <= now() - make_interval(secs => \(health.disableAfter.seconds)) AS failing
                FROM before
            )
            UPDATE webhook_endpoints e
            SET consecutive_failures = e.consecutive_failures + 1, failing_since = coalesce(e.failing_since, now()),
                circuit_open_until = CASE WHEN e.consecutive_failures + 1 >= \(health.failures)
                                          THEN now() + make_interval(secs => \(health.open.seconds)) END,
                enabled = e.enabled AND NOT (verdict.gone OR verdict.failing),
                disabled_reason = CASE WHEN verdict.gone THEN 'gone' WHEN verdict.failing THEN 'failing' ELSE e.disabled_reason END,
                disabled_at = CASE WHEN verdict.gone OR verdict.failing THEN now() ELSE e.disabled_at END,
                updated_at = now()
            FROM verdict WHERE e.id = verdict.id
            RETURNING verdict.gone OR verdict.failing
            """, logger: logger).decode(Bool.self) { disabledNow = value }
        return disabledNow
    }

    /// The `webhook_endpoint.disabled` event of an endpoint the dispatcher has just disabled,
    /// with its outbox row: the merchant sees it in `GET /v1/events`, and endpoints subscribed
    /// to it receive it.
    private static func recordDisabled(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query("""
            SELECT \(unescaped: WebhookEndpointStore.selectList) FROM webhook_endpoints WHERE id = \(id)
            """, logger: logger)
        guard let endpoint = try await WebhookEndpointStore.endpoints(rows).first else { return }
        struct Payload: Encodable { var object: WebhookEndpointObject }
        try await EventWriter.insert(id: UUIDv7.make(), merchantID: endpoint.merchantID, orderID: nil, type: .webhookEndpointDisabled,
                                     data: try SettleJSON.encode(Payload(object: WebhookEndpointObject(endpoint))), createdAt: Date(),
                                     on: connection, logger: logger)
    }

    /// Endpoints whose circuit is open now (for the `settle_webhook_circuits_open` gauge).
    public func openCircuits() async throws -> Int {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            let rows = try await connection.query(
                "SELECT count(*)::int FROM webhook_endpoints WHERE circuit_open_until > now() AND deleted_at IS NULL", logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    // MARK: the API's view

    /// A page of an endpoint's deliveries, newest first (in the order they were written),
    /// optionally of one status; nil if the merchant has no such endpoint.
    public func list(endpoint: UUID, merchant: UUID, status: String?, page: PageRequest) async throws -> Page<WebhookDelivery>? {
        let fetch = page.limit + 1
        let query: PostgresQuery
        if let newerThan = page.endingBefore {
            query = """
                SELECT \(unescaped: Self.deliveryColumns) WHERE d.endpoint_id = \(endpoint) AND (\(status)::text IS NULL OR d.status = \(status))
                  AND d.sequence > coalesce((SELECT sequence FROM webhook_deliveries WHERE id = \(newerThan) AND endpoint_id = \(endpoint)), 0)
                ORDER BY d.sequence ASC LIMIT \(fetch)
                """
        } else {
            query = """
                SELECT \(unescaped: Self.deliveryColumns) WHERE d.endpoint_id = \(endpoint) AND (\(status)::text IS NULL OR d.status = \(status))
                  AND d.sequence < coalesce((SELECT sequence FROM webhook_deliveries WHERE id = \(page.startingAfter) AND endpoint_id = \(endpoint)),
                                            9223372036854775807)
                ORDER BY d.sequence DESC LIMIT \(fetch)
                """
        }
        return try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            var exists = false
            for try await _ in try await connection.query("""
                SELECT 1 FROM webhook_endpoints WHERE id = \(endpoint) AND merchant_id = \(merchant) AND deleted_at IS NULL
                """, logger: logger) { exists = true }
            guard exists else { return nil }
            let deliveries = try await Self.deliveries(try await connection.query(query, logger: logger))
            return Page(fetched: try await Self.withAttempts(deliveries, on: connection, logger: logger), request: page)
        }
    }

    public enum RetryOutcome: Sendable {
        case scheduled(WebhookDelivery)
        case notFound
        /// An attempt is being made right now.
        case inFlight
        /// The endpoint is disabled: nothing would be sent.
        case endpointDisabled
    }

    /// Makes a delivery due now for one more attempt, whatever its state, in the transaction that
    /// stores the request's answer under its key.
    public func retry(_ id: UUID, merchant: UUID, claim: IdempotencyClaim?,
                      response: @escaping @Sendable (RetryOutcome) -> (status: Int, body: [UInt8])) async throws -> RetryOutcome {
        try await client.withTransaction(deadline: statementDeadline, logger: logger) { [logger] connection in
            var state: (leased: Bool, enabled: Bool)?
            for try await (leased, enabled) in try await connection.query("""
                SELECT d.lease_until IS NOT NULL AND d.lease_until >= now(), e.enabled
                FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.id = \(id) AND e.merchant_id = \(merchant) AND e.deleted_at IS NULL
                FOR UPDATE OF d
                """, logger: logger).decode((Bool, Bool).self) { state = (leased, enabled) }
            var outcome: RetryOutcome
            switch state {
            case nil: outcome = .notFound
            case (true, _)?: outcome = .inFlight
            case (_, false)?: outcome = .endpointDisabled
            default:
                try await connection.query("""
                    UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now() WHERE id = \(id)
                    """, logger: logger)
                let rows = try await connection.query("SELECT \(unescaped: Self.deliveryColumns) WHERE d.id = \(id)", logger: logger)
                outcome = .notFound
                for delivery in try await Self.deliveries(rows) {
                    outcome = .scheduled(try await Self.withAttempts([delivery], on: connection, logger: logger)[0])
                }
            }
            if let claim {
                let (status, body) = response(outcome)
                try await claim.complete(status: status, body: body, on: connection, logger: logger)
            }
            return outcome
        }
    }

    static let deliveryColumns = """
        d.id, d.endpoint_id, d.event_id, ev.type, d.status, CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, d.created_at, d.delivered_at
        FROM webhook_deliveries d JOIN events ev ON ev.id = d.event_id
        """

    static func deliveries(_ rows: PostgresRowSequence) async throws -> [WebhookDelivery] {
        var deliveries: [WebhookDelivery] = []
        for try await (id, endpoint, event, type, status, next, created, delivered)
            in rows.decode((UUID, UUID, UUID, String, String, Date?, Date, Date?).self) {
            deliveries.append(WebhookDelivery(id: id, endpointID: endpoint, eventID: event, eventType: type, status: status, nextAttemptAt: next,
                                              createdAt: created, deliveredAt: delivered, attempts: []))
        }
        return deliveries
    }

    private static func withAttempts(_ deliveries: [WebhookDelivery], on connection: PostgresConnection, logger: Logger) async throws -> [WebhookDelivery] {
        guard !deliveries.isEmpty else { return deliveries }
        let query: PostgresQuery = """
            SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, response_body, error FROM webhook_attempts
            WHERE delivery_id = ANY (\(deliveries.map(\.id))) ORDER BY delivery_id, attempt
            """
        let rows = try await connection.query(query, logger: logger)
        var attempts: [UUID: [WebhookDelivery.Attempt]] = [:]
        for try await (delivery, number, at, code, latency, body, error) in rows.decode((UUID, Int32, Date, Int32?, Int32, String?, String?).self) {
            attempts[delivery, default: []].append(WebhookDelivery.Attempt(
                number: Int(number), at: at, statusCode: code.map(Int.init), latencyMilliseconds: Int(latency), responseBody: body, error: error))
        }
        return deliveries.map { delivery in
            var delivery = delivery
            delivery.attempts = attempts[delivery.id] ?? []
            return delivery
        }
    }
}
