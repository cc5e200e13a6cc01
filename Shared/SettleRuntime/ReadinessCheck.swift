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
