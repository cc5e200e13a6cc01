import Foundation
import SettleDomain
import SettleRuntime

/// The payment worker's own settings (README "Configuration").
struct WorkerSettings: Sendable {
    var processorURL: URL
    /// One processor call's time-out; `pm_card_slow` answers after 2 s, so the default leaves room.
    var processorTimeout: Duration
    var group: String
    var topics: WorkerTopics
    /// Tries in process before a message moves to the next retry topic (DESIGN.md "Retries").
    var tries: Int
    var backoff: Backoff
    /// How long a message waits on each retry topic before it is tried again.
    var retryDelays: [Duration]
    var cacheLifetime: Duration
    /// Longest one read or record of an outcome may take: past it its connection is closed (it
    /// went silent) and the attempt fails as transient and is retried on a new one.
    var statementDeadline: Duration

    init(environment: EnvironmentReader) throws(ConfigurationError) {
        processorURL = try environment.url("SETTLE_PROCESSOR_URL", default: "http://127.0.0.1:7181", schemes: ["http", "https"])
        processorTimeout = try environment.milliseconds("SETTLE_PROCESSOR_TIMEOUT_MS", default: .seconds(5))
        group = environment.string("SETTLE_WORKER_GROUP", default: "settle-worker")
        topics = WorkerTopics(prefix: environment.string("SETTLE_TOPIC_PREFIX", default: ""))
        tries = try environment.integer("SETTLE_WORKER_TRIES", default: 3, in: 1...10)
        backoff = Backoff(base: try environment.milliseconds("SETTLE_WORKER_BACKOFF_BASE_MS", default: .milliseconds(100)),
                          cap: try environment.milliseconds("SETTLE_WORKER_BACKOFF_CAP_MS", default: .seconds(5)))
        let delays = environment.string("SETTLE_WORKER_RETRY_DELAYS_MS", default: "1000,10000,60000")
        let parsed = delays.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parsed.count == KafkaTopics.ordersRetry.count, parsed.allSatisfy({ $0 >= 0 }) else {
            throw ConfigurationError(variable: "SETTLE_WORKER_RETRY_DELAYS_MS",
                                     expected: "\(KafkaTopics.ordersRetry.count) comma-separated millisecond delays", actual: delays)
        }
        retryDelays = parsed.map { .milliseconds($0) }
        statementDeadline = try environment.milliseconds("SETTLE_WORKER_STATEMENT_DEADLINE_MS", default: .seconds(10))
        cacheLifetime = .seconds(try environment.integer("SETTLE_ORDER_CACHE_TTL_SECONDS", default: 60, in: 1...86_400))
    }
}
