import Synchronization

/// A Lua script run with EVALSHA; its SHA-1 is learnt from SCRIPT LOAD and remembered.
public final class RedisScript: Sendable {
    public let source: String
    private let loadedSHA = Mutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    var sha: String? { loadedSHA.withLock { $0 } }

    func remember(sha: String) {
        loadedSHA.withLock { $0 = sha }
    }
}
