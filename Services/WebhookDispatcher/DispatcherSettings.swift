import SettleDomain
import SettleRuntime
import SettleStorage

/// The dispatcher's own settings (README "Configuration").
struct DispatcherSettings: Sendable {
    var group: String
    /// `payments.v1`, behind `SETTLE_TOPIC_PREFIX`.
    var topic: String
    var retry: WebhookRetryPolicy
    var timeout: Duration
    /// Deliveries in flight at once, in all.
    var concurrency: Int
    /// Deliveries in flight at once to one endpoint (a FIFO endpoint: one).
    var perEndpoint: Int
    var poll: Duration
    var health: WebhookEndpointHealth
    var addresses: WebhookAddressPolicy
    /// How long a claim holds a delivery: longer than the HTTP time-out, so no delivery is ever
    /// sent twice at once; a sender killed mid-delivery leaves it to be claimed after this.
    var lease: Duration
    /// Longest one fan-out, claim or record may take: past it its connection is closed (it went
    /// silent) and the call is retried on another, so neither loop stalls behind it.
    var statementDeadline: Duration

    init(environment: EnvironmentReader) throws(ConfigurationError) {
        group = environment.string("SETTLE_DISPATCHER_GROUP", default: "settle-dispatcher")
        topic = environment.string("SETTLE_TOPIC_PREFIX", default: "") + KafkaTopics.payments
        let text = environment.string("SETTLE_WEBHOOK_SCHEDULE_MS", default: "")
        var schedule = WebhookRetryPolicy.standardSchedule
        if !text.isEmpty {
            let parsed = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.count == text.split(separator: ",").count, parsed.allSatisfy({ $0 >= 0 }) else {
                throw ConfigurationError(variable: "SETTLE_WEBHOOK_SCHEDULE_MS", expected: "comma-separated millisecond delays, one per attempt",
                                         actual: text)
            }
            schedule = parsed.map { .milliseconds($0) }
        }
        retry = WebhookRetryPolicy(schedule: schedule,
                                   slowDown: try environment.milliseconds("SETTLE_WEBHOOK_SLOW_DOWN_MS", default: .seconds(60)))
        timeout = try environment.milliseconds("SETTLE_WEBHOOK_TIMEOUT_MS", default: .seconds(15))
        concurrency = try environment.integer("SETTLE_WEBHOOK_CONCURRENCY", default: 64, in: 1...10_000)
        perEndpoint = try environment.integer("SETTLE_WEBHOOK_ENDPOINT_CONCURRENCY", default: 4, in: 1...1_000)
        poll = try environment.milliseconds("SETTLE_WEBHOOK_POLL_MS", default: .milliseconds(250))
        health = WebhookEndpointHealth(
            failures: try environment.integer("SETTLE_WEBHOOK_CIRCUIT_FAILURES", default: 5, in: 1...1_000),
            open: try environment.milliseconds("SETTLE_WEBHOOK_CIRCUIT_OPEN_MS", default: .seconds(30)),
            disableAfter: try environment.milliseconds("SETTLE_WEBHOOK_DISABLE_AFTER_MS", default: .seconds(5 * 86_400)))
        addresses = WebhookAddressPolicy(allowed: try environment.networks("SETTLE_WEBHOOK_ALLOWED_NETWORKS"))
        lease = try environment.milliseconds("SETTLE_WEBHOOK_LEASE_MS", default: timeout * 2 + .seconds(10))
        statementDeadline = try environment.milliseconds("SETTLE_WEBHOOK_STATEMENT_DEADLINE_MS", default: .seconds(10))
        guard lease >= timeout + .seconds(1) else {
            throw ConfigurationError(variable: "SETTLE_WEBHOOK_LEASE_MS", expected: "at least the time-out (SETTLE_WEBHOOK_TIMEOUT_MS) plus 1000",
                                     actual: "\(lease)")
        }
    }
}
