import Synchronization

/// Decides, once, between a write being sent to PostgreSQL and a deadline giving up on it.
///
/// Before the write is sent, a deadline may still answer "nothing was created", and then the
/// write must never be sent. Once it was sent, the outcome is the server's to tell: the caller
/// waits for COMMIT's answer or the connection's loss, however long that takes (postgres-nio
/// does not cancel a statement in flight, so an answer given meanwhile could be wrong).
public final class CommitGate: Sendable {
    private static let pending: UInt8 = 0, sent: UInt8 = 1, abandoned: UInt8 = 2
    private let state = Atomic<UInt8>(CommitGate.pending)

    public init() {}

    /// The writer is about to send: true unless the deadline gave up first.
    public func send() -> Bool {
        let (exchanged, current) = state.compareExchange(expected: Self.pending, desired: Self.sent, ordering: .acquiringAndReleasing)
        return exchanged || current == Self.sent
    }

    /// The deadline passed: true unless the write was sent first.
    public func abandon() -> Bool {
        let (exchanged, current) = state.compareExchange(expected: Self.pending, desired: Self.abandoned, ordering: .acquiringAndReleasing)
        return exchanged || current == Self.abandoned
    }
}
