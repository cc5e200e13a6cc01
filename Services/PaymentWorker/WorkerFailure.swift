/// Why handling a message failed, and whether trying again can help (DESIGN.md "Retries").
///
/// Transient failures (time-outs, 5xx, connection loss, the database away) are retried in process,
/// then on the retry topics; the others (a message that cannot be decoded, an unknown event type or
/// order, a processor answer that makes no sense) go to the dead-letter topic at once.
struct WorkerFailure: Error, CustomStringConvertible, Sendable {
    /// A stable class for the `dlq-error-class` header and metrics, e.g. `processor_unavailable`.
    var errorClass: String
    var message: String
    var isRetryable: Bool
    /// How many times the message was tried before this failure was final (in process).
    var attempts = 1

    static func transient(_ errorClass: String, _ message: String) -> WorkerFailure {
        WorkerFailure(errorClass: errorClass, message: message, isRetryable: true)
    }

    static func permanent(_ errorClass: String, _ message: String) -> WorkerFailure {
        WorkerFailure(errorClass: errorClass, message: message, isRetryable: false)
    }

    var description: String { "\(errorClass): \(message)" }

    /// Any error, classified: a `WorkerFailure` as it is, anything else (the database, Redis, a bug
    /// in a dependency) as transient, so the message is tried again rather than lost.
    static func classify(_ error: any Error) -> WorkerFailure {
        if let failure = error as? WorkerFailure { return failure }
        return .transient("internal", String(describing: error))
    }
}
