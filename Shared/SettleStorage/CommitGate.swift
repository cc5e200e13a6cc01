import Synchronization

/// Decides, once, between a write being sent to PostgreSQL and a deadline giving up on it.
///
/// Before the write is sent, a deadline may still answer "nothing was created", and then the
/// write must never be sent. Once it was sent, the outcome is the server's to tell: the caller
/// waits for COMMIT's answer or the connection's loss (postgres-nio does not cancel a statement
/// in flight, so "nothing was created" could be wrong), and if neither comes in time the only
/// true answer is "outcome unknown".
public final class CommitGate: Sendable {
    private static let pending: UInt8 = 0, sent: UInt8 = 1, abandoned: UInt8 = 2
    private let state = Atomic<UInt8>(CommitGate.pending)

    public init() {}

    /// The writer is about to send: true unless the deadline gave up first.
    public func send() -> Bool {
        let (exchanged, current) = state.compareExchange(expected: Self.pending, desired: Self.sent, ordering: .acquiringAndReleasing)
        return exchanged || current == Self.sent
    }

    /// The write was sent (so it may commit, whoever stops waiting for it).
    public var wasSent: Bool { state.load(ordering: .acquiring) == Self.sent }

    /// The deadline passed: true unless the write was sent first.
    public func abandon() -> Bool {
        let (exchanged, current) = state.compareExchange(expected: Self.pending, desired: Self.abandoned, ordering: .acquiringAndReleasing)
        return exchanged || current == Self.abandoned
    }
}
