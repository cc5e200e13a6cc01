import Logging
import ServiceLifecycle
import SettleStorage

/// Keeps Settle's history a bounded window (`HistoryPartitions`): every `interval`, it makes the
/// partitions of the coming days and months and drops those past retention (idempotency keys'
/// days once their 24 h are over, events' months past `SETTLE_EVENT_RETENTION_DAYS`), and deletes
/// the dead letters replayed longer ago than events are kept (open ones stay). Several API
/// instances may run it at once: making partitions is serialized by the database and only one
/// instance drops at a time.
struct HistoryRetention: Service {
    let partitions: HistoryPartitions
    let deadLetters: DeadLetterStore
    let retention: HistoryPartitions.Retention
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let made = try await partitions.ensure()
                if made > 0 { logger.notice("history partitions made", metadata: ["count": "\(made)"]) }
                try await partitions.dropExpired(retention)
                if let kept = retention.events {
                    let deleted = try await deadLetters.deleteReplayed(olderThan: kept)
                    if deleted > 0 { logger.notice("replayed dead letters deleted", metadata: ["count": "\(deleted)"]) }
                }
            } catch {
                logger.warning("history retention failed; trying again later", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
