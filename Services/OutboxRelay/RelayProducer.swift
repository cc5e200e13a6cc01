import Logging
import Metrics
import SettleKafka
import SettleRuntime
import Synchronization

/// The relay's Kafka producer, replaced when it hits a fatal error.
///
/// An idempotent producer whose sequence the broker no longer accepts (an out-of-order
/// sequence) can send nothing more, ever; without a new producer the relay would retry its
/// round forever and publish nothing. The rows of the failed round stay in the outbox, so the
/// new producer (a new producer id) sends them again: duplicates keep their `event-id`, and
/// order per key holds because a round never sends past a failed row of its shard.
final class RelayProducer: Sendable {
    private let make: @Sendable () throws -> KafkaProducer
    private let logger: Logger
    private let current: Mutex<KafkaProducer>
    /// The fatal error the relay is replacing the producer for, while it does (for `/readyz`).
    private let replacing = Mutex<KafkaError?>(nil)
    private let rebuilds = Counter(label: "settle_relay_producer_rebuilds_total")

    init(logger: Logger, make: @escaping @Sendable () throws -> KafkaProducer) throws {
        self.make = make
        self.logger = logger
        self.current = Mutex(try make())
    }

    var producer: KafkaProducer { current.withLock { $0 } }

    /// If the producer hit a fatal error: says so on `/readyz`, waits `delay` (so a broker that
    /// keeps refusing is not hammered with new producers), then replaces it. Returns true if the
    /// producer had failed; if no new one could be made, the failed one stays, to be replaced
    /// on the next call.
    func replaceIfFailed(after delay: Duration) async -> Bool {
        let failed = producer
        guard let fatal = failed.fatalError else { return false }
        replacing.withLock { $0 = fatal }
        logger.error("Kafka producer hit a fatal error; replacing it", metadata: ["error": "\(fatal)", "retry_in": "\(delay)"])
        try? await Task.sleep(for: delay)
        do {
            let fresh = try make()
            current.withLock { $0 = fresh }
            replacing.withLock { $0 = nil }
            rebuilds.increment()
            logger.warning("Kafka producer replaced")
            await failed.shutdown()
        } catch {
            logger.error("a new Kafka producer could not be made", metadata: ["error": "\(error)"])
        }
        return true
    }

    /// `/readyz`: not ready while the producer is failed or no broker answers it. Uses the
    /// producer's own connections: a probe makes no Kafka client of its own.
    func checkReady() async throws {
        if let fatal = replacing.withLock({ $0 }) {
            throw ReplacingProducer(cause: fatal)
        }
        try await producer.checkBrokers(timeout: .seconds(2))
    }

    func shutdown() async {
        await producer.shutdown()
    }

    struct ReplacingProducer: Error, CustomStringConvertible {
        var cause: KafkaError
        var description: String { "the producer hit a fatal error and is being replaced (\(cause))" }
    }
}
