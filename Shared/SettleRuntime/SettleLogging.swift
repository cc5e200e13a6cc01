import Logging

/// Sets up swift-log for a Settle process: JSON lines on standard error, with the current
/// trace's ids.
public enum SettleLogging {
    /// Bootstraps logging once per process; `SETTLE_LOG_LEVEL` (trace … critical, default info).
    /// At `info` a service writes a line for each order or event it handles (order created, event
    /// published, order settled, webhook delivered), so one order's `trace_id` can be followed
    /// through every service; `notice` keeps only starts, stops, assignments, migrations and
    /// problems.
    public static func bootstrap(service: String, environment: EnvironmentReader = EnvironmentReader()) throws(ConfigurationError) -> Logger {
        let text = environment.string("SETTLE_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigurationError(
                variable: "SETTLE_LOG_LEVEL",
                expected: "one of trace, debug, info, notice, warning, error, critical",
                actual: text
            )
        }
        // A line logged inside a span carries its trace_id and span_id (SettleTracing).
        LoggingSystem.bootstrap({ label, provider in
            var handler = JSONLogHandler(label: label, service: service, level: level)
            handler.metadataProvider = provider
            return handler
        }, metadataProvider: SettleTracing.loggingMetadataProvider())
        return Logger(label: service)
    }
}
