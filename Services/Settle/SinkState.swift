import Foundation
import SettleDomain
import Synchronization

/// What `settle sink` has received: deliveries by `webhook-id` (first one counted, the rest
/// duplicates), per event, the secrets it verifies with, and the fault it was told to play.
final class SinkState: Sendable {
    struct Fault: Sendable {
        /// The status answered while the fault lasts (after the delay), or nil to answer 204 after it.
        var status: Int?
        var delay: Duration
        var retryAfter: Int?
        var until: ContinuousClock.Instant
    }

    struct Counts: Sendable {
        var deliveries: [String: Int] = [:]     // webhook-id → requests received
        var order: [String] = []                // webhook-ids in order of first arrival
        var firstArrivals: [Date] = []          // when each of them first arrived, in the same order
        var traceparents: [String: String] = [:] // webhook-id → the `traceparent` its first arrival carried
        var rejected = 0
        var faulted = 0
        /// Verified requests being answered right now, and the most there ever were at once.
        var inFlight = 0
        var maxInFlight = 0
    }

    private let secrets: Mutex<[String]>
    /// When this sink started: it knows nothing of what arrived before (`settle verify` asks).
    let startedAt = Date()
    private let fault = Mutex<Fault?>(nil)
    private let counts = Mutex(Counts())
    /// Where more secrets come from (the stack's database), asked at most every 250 ms.
    private let source: (@Sendable () async throws -> [String])?
    private let lastReload = Mutex<ContinuousClock.Instant?>(nil)

    init(secrets: [String], source: (@Sendable () async throws -> [String])? = nil) {
        self.secrets = Mutex(secrets)
        self.source = source
    }

    var currentSecrets: [String] { secrets.withLock { $0 } }
    func setSecrets(_ new: [String]) { secrets.withLock { $0 = new } }

    /// Asks the source for the secrets again (a new endpoint, a rotation); false if it was
    /// asked too recently or there is none.
    func reloadSecrets() async -> Bool {
        guard let source else { return false }
        let now = ContinuousClock.now
        let due = lastReload.withLock { last -> Bool in
            if let last, now - last < .milliseconds(250) { return false }
            last = now
            return true
        }
        guard due, let loaded = try? await source() else { return false }
        secrets.withLock { current in current = Array(Set(current + loaded)) }
        return true
    }

    var currentFault: Fault? {
        fault.withLock { current in
            if let active = current, active.until <= .now { current = nil }
            return current
        }
    }
    func setFault(_ new: Fault?) { fault.withLock { $0 = new } }

    func rejected() { counts.withLock { $0.rejected += 1 } }

    /// A verified request starts being answered.
    func started() {
        counts.withLock { counts in
            counts.inFlight += 1
            counts.maxInFlight = max(counts.maxInFlight, counts.inFlight)
        }
    }

    /// A verified request has been answered.
    func finished() { counts.withLock { $0.inFlight -= 1 } }
    func faulted() { counts.withLock { $0.faulted += 1 } }

    /// Counts a verified delivery; true the first time its `webhook-id` arrives.
    func received(_ webhookID: String, traceparent: String?) -> Bool {
        counts.withLock { counts in
            let seen = counts.deliveries[webhookID, default: 0]
            counts.deliveries[webhookID] = seen + 1
            if seen == 0 {
                counts.order.append(webhookID)
                counts.firstArrivals.append(Date())
                if let traceparent { counts.traceparents[webhookID] = String(traceparent.prefix(64)) }
            }
            return seen == 0
        }
    }

    var snapshot: Counts { counts.withLock { $0 } }
}
