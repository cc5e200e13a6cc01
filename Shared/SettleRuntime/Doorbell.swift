import Synchronization

/// Wakes a polling loop when work may be waiting (the relay: a NOTIFY arrived; the dispatcher:
/// deliveries were written or a slot freed), or after a timeout as the fallback poll. Rings
/// while nobody waits are remembered, and several count as one, so none is lost and the loop
/// never spins.
public final class Doorbell: Sendable {
    public init() {}

    private let state = Mutex<(rung: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns at the next ring (at once if one came since the last wait), or after `timeout`.
    public func wait(upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Cancelled once the wait is over: then it must not ring, or the next wait
                // would return at once and the loop would spin.
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                self.ring()
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            group.cancelAll()
        }
    }
}
