import Foundation
import Synchronization

/// A dedicated OS thread that runs a blocking librdkafka loop, so that `rd_kafka_poll`
/// and friends never occupy a thread of Swift's cooperative pool.
final class KafkaPollThread: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Starts `body` on a new thread. `body` is called repeatedly until `stop()`;
    /// each call should block for at most a short time (a poll with a time-out).
    /// `cleanup` runs once on the same thread after the loop ends.
    init(name: String, body: @escaping @Sendable () -> Void, cleanup: @escaping @Sendable () -> Void = {}) {
        let thread = Thread { [self] in
            while !stopRequested.load(ordering: .acquiring) {
                body()
            }
            cleanup()
            let waiters = finished.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = name
        thread.start()
    }

    var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

    func stop() {
        stopRequested.store(true, ordering: .releasing)
    }

    /// Suspends (without blocking a thread) until the loop and its cleanup have ended.
    func join() async {
        await withCheckedContinuation { continuation in
            let alreadyDone = finished.withLock { state in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if alreadyDone { continuation.resume() }
        }
    }
}
