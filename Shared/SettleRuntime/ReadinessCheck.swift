import Synchronization

/// A dependency `/readyz` checks: its name, where it is, and a probe that throws when it is not usable.
public struct ReadinessCheck: Sendable {
    public var name: String
    public var address: String
    public var probe: @Sendable () async throws -> Void

    public init(name: String, address: String, probe: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.address = address
        self.probe = probe
    }
}

/// The checks a service adds to `/readyz` beyond its stores' (for example a probe through its
/// own Kafka client, which also knows when that client is broken).
public final class ReadinessRegistry: Sendable {
    private let checks = Mutex<[ReadinessCheck]>([])

    public init() {}

    public func add(_ check: ReadinessCheck) {
        checks.withLock { $0.append(check) }
    }

    public var all: [ReadinessCheck] { checks.withLock { $0 } }
}
