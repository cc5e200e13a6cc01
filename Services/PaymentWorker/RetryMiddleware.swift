import Logging
import Metrics
import SettleKafka
import SettleRuntime

/// Retries transient failures in process with exponential backoff and full jitter (DESIGN.md
/// "Retries": base 100 ms, cap 5 s, 3 tries), then lets the failure through with the number of
/// tries made, for the retry-topic middleware to act on. Permanent failures pass at once.
struct RetryMiddleware: Sendable {
    var tries: Int
    var backoff: Backoff
    var logger: Logger

    static let retries = Counter(label: "settle_worker_retries_total", dimensions: [("tier", "in_process")])

    func wrap(_ next: @escaping MessageHandler) -> MessageHandler {
        { [tries, backoff, logger] message in
            var attempt = 0
            while true {
                do {
                    try await next(message)
                    return
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    var failure = WorkerFailure.classify(error)
                    attempt += 1
                    failure.attempts = attempt
                    guard failure.isRetryable, attempt < tries else { throw failure }
                    let delay = backoff.delay(attempt: attempt - 1)
                    logger.info("retrying in process", metadata: [
                        "error_class": "\(failure.errorClass)", "error": "\(failure.message)", "attempt": "\(attempt)",
                        "retry_in": "\(delay)", "kafka.topic": "\(message.topic)", "kafka.offset": "\(message.offset)",
                    ])
                    Self.retries.increment()
                    try await Task.sleep(for: delay)
                }
            }
        }
    }
}
