import Foundation
import Logging
import ServiceLifecycle
import SettleStorage
import Synchronization

/// When each API key was last used, kept off the request path: a request notes its key in
/// memory (at most once a minute per key), and this service writes the notes every `interval`
/// in one statement, which itself writes a key's `last_used_at` at most once a minute.
final class APIKeyUsage: Service, Sendable {
    private struct State {
        var pending: [[UInt8]: Date] = [:]
        var noted: [[UInt8]: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())
    let keys: APIKeyStore
    let interval: Duration
    let logger: Logger

    init(keys: APIKeyStore, interval: Duration = .seconds(5), logger: Logger) {
        self.keys = keys
        self.interval = interval
        self.logger = logger
    }

    /// Notes that the key was used now (a dictionary look-up; nothing is written here).
    func note(_ hash: [UInt8]) {
        let now = ContinuousClock.now
        state.withLock { state in
            if let last = state.noted[hash], last > now - .seconds(60) { return }
            if state.noted.count >= 10_000 { state.noted.removeAll(keepingCapacity: true) }
            state.noted[hash] = now
            state.pending[hash] = Date()
        }
    }

    func run() async throws {
        // The last notes are written on the way out, so a graceful stop loses none.
        let interval = self.interval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await flush()
        }
    }

    /// Writes what was noted since the last flush; on failure the notes wait for the next one.
    func flush() async {
        let uses = state.withLock { state in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending.map { (hash: $0.key, at: $0.value) }
        }
        guard !uses.isEmpty else { return }
        do {
            try await keys.recordUse(uses)
        } catch {
            logger.debug("API key use not recorded yet", metadata: ["error": "\(String(reflecting: error))"])
            state.withLock { state in
                for use in uses where state.pending[use.hash] == nil { state.pending[use.hash] = use.at }
            }
        }
    }
}
