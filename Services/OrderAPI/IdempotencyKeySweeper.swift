import Logging
import ServiceLifecycle
import SettleStorage

/// Deletes idempotency keys past their 24 h, a bounded batch at a time, so the table holds
/// about one day of keys. Several API instances may sweep at once; the deletes do not conflict.
struct IdempotencyKeySweeper: Service {
    let store: IdempotencyStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                var deleted = 0
                repeat {
                    deleted = try await store.deleteExpired(limit: 10_000)
                    if deleted > 0 { logger.debug("expired idempotency keys deleted", metadata: ["count": "\(deleted)"]) }
                } while deleted == 10_000 && !Task.isShuttingDownGracefully
            } catch {
                logger.warning("idempotency key sweep failed; trying again later", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
