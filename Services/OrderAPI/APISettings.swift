import SettleDomain
import SettleRuntime
import SettleStorage

/// The order API's own settings (README "Configuration").
struct APISettings: Sendable {
    var rateLimit: Int
    var rateLimitBurst: Int
    var rateLimitFailOpen: Bool
    /// How far ahead a busy API key takes events from Redis's limit (`RateLimiter`); zero: none.
    var rateLimitLease: Duration
    var cacheLifetime: Duration
    var ingest: OrderIngest.Settings
    var idempotencyLockTimeout: Duration
    /// Longest any other request's statement may take, its connection's lease included; past it
    /// the request is answered 503 and the connection closed (`PostgresClient.withConnection(deadline:)`).
    var statementDeadline: Duration
    /// Networks webhook URLs may lead to although they are refused by default (loopback, private…).
    var webhookAddresses: WebhookAddressPolicy
    /// How long a key is remembered while key changes arrive through Redis, and while they may not.
    var apiKeyCacheLifetime: Duration
    var apiKeyCacheFallbackLifetime: Duration
    /// Failed authentications allowed per client address: on average per minute, and at once.
    var authFailuresPerMinute: Int
    var authFailureBurst: Int
    /// Proxies whose `X-Forwarded-For` names the client (none by default: the peer is the client).
    var trustedProxies: [IPNetwork]
    /// How long history is kept, and how often partitions past it are dropped (`HistoryRetention`).
    var retention: HistoryPartitions.Retention
    var retentionInterval: Duration

    init(environment: EnvironmentReader) throws(ConfigurationError) {
        rateLimit = try environment.integer("SETTLE_RATE_LIMIT", default: 100, in: 1...1_000_000)
        rateLimitBurst = try environment.integer("SETTLE_RATE_LIMIT_BURST", default: 200, in: 1...1_000_000)
        rateLimitFailOpen = try environment.bool("SETTLE_RATE_LIMIT_FAIL_OPEN", default: true)
        rateLimitLease = try environment.milliseconds("SETTLE_RATE_LIMIT_LEASE_MS", default: .milliseconds(50))
        cacheLifetime = .seconds(try environment.integer("SETTLE_ORDER_CACHE_TTL_SECONDS", default: 60, in: 1...86_400))
        ingest = OrderIngest.Settings(
            maxBatch: try environment.integer("SETTLE_INGEST_BATCH_MAX", default: 256, in: 1...5_000),
            maxWait: try environment.milliseconds("SETTLE_INGEST_BATCH_WAIT_MS", default: .milliseconds(4)),
            concurrency: try environment.integer("SETTLE_INGEST_CONCURRENCY", default: 2, in: 1...64),
            commitDeadline: try environment.milliseconds("SETTLE_INGEST_COMMIT_DEADLINE_MS", default: .seconds(5)),
            outcomeWait: try environment.milliseconds("SETTLE_INGEST_OUTCOME_WAIT_MS", default: .seconds(10)),
            closeAfter: try environment.milliseconds("SETTLE_INGEST_CLOSE_AFTER_MS", default: .seconds(60))
        )
        idempotencyLockTimeout = .seconds(try environment.integer("SETTLE_IDEMPOTENCY_LOCK_SECONDS", default: 60, in: 1...86_400))
        statementDeadline = try environment.milliseconds("SETTLE_API_STATEMENT_DEADLINE_MS", default: .seconds(5))
        webhookAddresses = WebhookAddressPolicy(allowed: try environment.networks("SETTLE_WEBHOOK_ALLOWED_NETWORKS"))
        apiKeyCacheLifetime = .seconds(try environment.integer("SETTLE_API_KEY_CACHE_SECONDS", default: 60, in: 1...3_600))
        apiKeyCacheFallbackLifetime = try environment.milliseconds("SETTLE_API_KEY_CACHE_FALLBACK_MS", default: .seconds(1))
        authFailuresPerMinute = try environment.integer("SETTLE_AUTH_FAILURES_PER_MINUTE", default: 10, in: 1...100_000)
        authFailureBurst = try environment.integer("SETTLE_AUTH_FAILURE_BURST", default: 20, in: 1...100_000)
        trustedProxies = try environment.networks("SETTLE_TRUSTED_PROXIES")
        let eventDays = try environment.integer("SETTLE_EVENT_RETENTION_DAYS", default: 400, in: 0...36_500)
        retention = HistoryPartitions.Retention(events: eventDays == 0 ? nil : .seconds(eventDays * 86_400))
        retentionInterval = .seconds(try environment.integer("SETTLE_RETENTION_INTERVAL_SECONDS", default: 3_600, in: 1...86_400))
    }
}
