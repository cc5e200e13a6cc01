import SettleRuntime

/// The relay's own settings (README "Configuration").
struct RelaySettings: Sendable {
    var batchSize: Int
    /// The fallback poll when no notification arrives (lost notifications, reconnects).
    var pollInterval: Duration
    /// How long a round that sent more than one row but was not full waits before the next, so
    /// under load a round carries many commits' rows: the per-round statements, wake-ups and
    /// produce requests are paid per round, not per commit. A round of a single row (light
    /// load) does not wait, so a lone event is not delayed.
    var linger: Duration
    var listen: Bool
    /// The longest a statement of the relay's session may take before the session is dropped
    /// and a new one started (the rows stay and are read again).
    var statementDeadline: Duration
    /// Put before every row's topic, so a benchmark's relays publish where no other consumer reads.
    var topicPrefix: String

    init(environment: EnvironmentReader) throws(ConfigurationError) {
        batchSize = try environment.integer("SETTLE_RELAY_BATCH", default: 500, in: 1...10_000)
        pollInterval = try environment.milliseconds("SETTLE_RELAY_POLL_MS", default: .milliseconds(500))
        linger = try environment.milliseconds("SETTLE_RELAY_LINGER_MS", default: .milliseconds(25))
        listen = try environment.bool("SETTLE_RELAY_LISTEN", default: true)
        statementDeadline = try environment.milliseconds("SETTLE_RELAY_STATEMENT_DEADLINE_MS", default: .seconds(10))
        topicPrefix = environment.string("SETTLE_TOPIC_PREFIX", default: "")
    }
}
