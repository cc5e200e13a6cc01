import SettleRuntime

/// The relay's own settings (README "Configuration").
struct RelaySettings: Sendable {
    var batchSize: Int
    /// The fallback poll when no notification arrives (lost notifications, reconnects).
    var pollInterval: Duration
    /// The longest pause between rounds under load (see `pause(afterSending:)`).
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
        linger = try environment.milliseconds("SETTLE_RELAY_LINGER_MS", default: .milliseconds(100))
        listen = try environment.bool("SETTLE_RELAY_LISTEN", default: true)
        statementDeadline = try environment.milliseconds("SETTLE_RELAY_STATEMENT_DEADLINE_MS", default: .seconds(10))
        topicPrefix = environment.string("SETTLE_TOPIC_PREFIX", default: "")
    }

    /// A round of this many rows or more is followed by the whole `linger`.
    static let lingerFullRows = 100

    /// The pause after a round that sent `sent` rows: a share of `linger` in proportion to the
    /// round's size, whole from `lingerFullRows` rows. The per-round statements, wake-ups and
    /// produce requests are paid per round, so under load the pause lets a round carry many
    /// commits' rows; light traffic makes small rounds and so short pauses, and a round of a
    /// single row (or a full one, with more waiting) is not followed by any. Rows arriving
    /// faster than `lingerFullRows` per `linger` (1,000/s per relay by default) make every
    /// round big enough for the whole pause.
    func pause(afterSending sent: Int) -> Duration? {
        guard linger > .zero, sent > 1, sent < batchSize else { return nil }
        return linger * min(1.0, Double(sent) / Double(Self.lingerFullRows))
    }
}
