/// A wake-up call that coalesces: rings before the listener looks count as one. The sender
/// claims when it rings: after a fan-out wrote deliveries, after a delivery finished (a slot is
/// free), and on a timer for deliveries that became due on their schedule or were written by
/// another dispatcher.
final class Doorbell: Sendable {
    let rings: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (rings, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func ring() { continuation.yield() }
}
