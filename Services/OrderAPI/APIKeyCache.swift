import Foundation
import Logging
import ServiceLifecycle
import SettleDomain
import SettleRedis
import SettleRuntime
import SettleStorage
import Synchronization

/// What this process remembers of API keys, so authentication costs no query per request.
/// An entry lives `lifetime` while the process hears of every key change (`APIKeyRevocations`
/// on Redis); whenever it may not (Redis unreachable, not yet subscribed) every entry is
/// dropped and new ones live only `fallbackLifetime`. Either way a key's own expiry is checked
/// on every use, so a key is never accepted after its expiry instant.
final class APIKeyCache: Sendable {
    private struct State {
        var entries: [[UInt8]: (credential: APIKeyStore.Credential, until: ContinuousClock.Instant)] = [:]
        var hearsChanges = false
    }

    private let state = Mutex(State())
    let lifetime: Duration
    let fallbackLifetime: Duration
    private let capacity = 10_000

    init(lifetime: Duration, fallbackLifetime: Duration) {
        self.lifetime = lifetime
        self.fallbackLifetime = fallbackLifetime
    }

    func credential(for hash: [UInt8]) -> APIKeyStore.Credential? {
        state.withLock { state in
            guard let entry = state.entries[hash], entry.until > .now else { return nil }
            return entry.credential
        }
    }

    func remember(_ hash: [UInt8], _ credential: APIKeyStore.Credential) {
        state.withLock { state in
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[hash] = (credential, .now + (state.hearsChanges ? lifetime : fallbackLifetime))
        }
    }

    func forget(_ hash: [UInt8]) {
        _ = state.withLock { $0.entries.removeValue(forKey: hash) }
    }

    /// Whether key changes reach this process from now on. At each change of that, what it
    /// remembers may be stale (or remembered too long) and is dropped; a repeated loss (Redis
    /// still unreachable) keeps the short-lived entries made since.
    func hearsChanges(_ hears: Bool) {
        state.withLock { state in
            if !hears && !state.hearsChanges { return }
            state.entries.removeAll(keepingCapacity: true)
            state.hearsChanges = hears
        }
    }

    var isHearingChanges: Bool { state.withLock { $0.hearsChanges } }
}

/// Keeps an `APIKeyCache` told of key changes: subscribed to `APIKeyRevocations.channel`, it
/// forgets each changed key at once.
struct APIKeyChangeListener: Service {
    let cache: APIKeyCache
    let subscriber: RedisSubscriber
    let logger: Logger

    func run() async throws {
        let cache = self.cache
        let logger = self.logger
        await cancelWhenGracefulShutdown {
            await subscriber.run(channel: APIKeyRevocations.channel) { event in
                switch event {
                case .subscribed:
                    cache.hearsChanges(true)
                case .lost:
                    if cache.isHearingChanges {
                        logger.warning("API key changes may be missed; keys are remembered for a short time only until Redis answers again")
                    }
                    cache.hearsChanges(false)
                case .message(let hex):
                    if let hash = Hex.decode(String(decoding: hex, as: UTF8.self)) { cache.forget(hash) }
                }
            }
        }
    }
}
