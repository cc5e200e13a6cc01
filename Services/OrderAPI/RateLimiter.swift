import Foundation
import Metrics
import SettleDomain
import SettleRedis
import Synchronization

/// GCRA (the generic cell rate algorithm) in Redis, per subject (an API key for the request
/// limit, a client address for failed authentications): `rate` events per second on average,
/// up to `burst` at once. A subject's state is a single timestamp (the theoretical arrival time),
/// kept only as long as it matters.
///
/// Decisions asked for while a call to Redis is out wait for the next call, which carries all of
/// them: one script run decides a whole group, in arrival order, with the same arithmetic as
/// one call per request at that instant (see `GCRABatch`). With a lease, a subject asking often
/// also takes a few events ahead in that call (about `lease` worth at its recent pace), which the
/// next asks use without a call: the events are taken from Redis's GCRA before they are used, so
/// a lease never lets more through than the limit; a lease unused within twice its span is
/// dropped, its events lost. A subject asking rarely gets no lease and makes one call per ask.
struct RateLimiter: Sendable {
    struct Decision: Sendable, Equatable {
        var allowed: Bool
        var limit: Int
        var remaining: Int
        /// Seconds until the full burst is available again.
        var resetSeconds: Int
        /// Seconds until a request would be allowed (only when not allowed).
        var retryAfterSeconds: Int
    }

    let rate: Double
    let burst: Int
    /// When Redis cannot be asked: allow (and count it) or refuse.
    let failOpen: Bool
    /// Where the subjects' state lives in Redis.
    let keyspace: String
    private let batch: GCRABatch?
    private let allowed: Counter
    private let limited: Counter
    private let failedOpen: Counter
    private let failedClosed: Counter

    /// - Parameters:
    ///   - lease: how far ahead a busy subject takes events (`.zero`: never, each ask is decided in Redis).
    ///   - metric: the counter of decisions, labelled `decision`.
    init(redis: RedisClient?, rate: Double, burst: Int, failOpen: Bool, lease: Duration = .zero,
         keyspace: String = "settle:ratelimit:", metric: String = "settle_api_rate_limit_decisions_total") {
        self.rate = rate
        self.burst = burst
        self.failOpen = failOpen
        self.keyspace = keyspace
        let interval = max(1, Int(1_000_000 / rate))
        batch = redis.map { GCRABatch(redis: $0, interval: interval, window: interval * burst, burst: burst, lease: lease) }
        func decisions(_ decision: String) -> Counter { Counter(label: metric, dimensions: [("decision", decision)]) }
        allowed = decisions("allowed")
        limited = decisions("limited")
        failedOpen = decisions("fail_open")
        failedClosed = decisions("fail_closed")
    }

    /// Events the subject holds on lease now (a test's view of the lease).
    func leased(subject: String) -> Int {
        batch?.leased(keyspace + subject) ?? 0
    }

    /// Asks Redis whether the key may make a request now; `nil` when Redis could not answer.
    func decide(keyHash: [UInt8]) async -> Decision? {
        await decide(subject: Hex.encode(keyHash.prefix(16)))
    }

    /// Asks Redis whether the subject may have one more event now, and counts it unless
    /// `consume` is false (a peek); `nil` when Redis could not answer.
    func decide(subject: String, consume: Bool = true) async -> Decision? {
        guard let batch, let decision = await batch.decide(GCRABatch.Ask(key: keyspace + subject, consume: consume)) else {
            (failOpen ? failedOpen : failedClosed).increment()
            return nil
        }
        if consume { (decision.allowed ? allowed : limited).increment() }
        return decision
    }
}

/// The decisions of one limit that wait for Redis together. While a call is out, new asks queue;
/// when it returns, the next call takes every ask queued meanwhile. Per subject, a group of `n`
/// asks is granted `k ≤ n` events at once, which is exactly what `n` calls in a row would have
/// granted: the first `k` in arrival order are allowed, with the `RateLimit-Remaining` each would
/// have seen, and the rest are refused with the same `Retry-After`. A peek consumes nothing, so
/// every peek of a group gets the answer of one.
///
/// A lease (see `RateLimiter`) is the part of a group's grant beyond its asks: kept here per
/// subject and handed out in order, each with the `RateLimit-Remaining` it would have had.
///
/// The script takes every subject of the group as a key, so with Redis Cluster the keys would
/// need a common hash tag; Settle talks to one Redis server.
final class GCRABatch: Sendable {
    struct Ask: Hashable, Sendable {
        var key: String
        var consume: Bool
    }

    private struct Waiter {
        var ask: Ask
        var continuation: CheckedContinuation<RateLimiter.Decision?, Never>
    }

    /// A subject's events granted ahead, and how often it asks (to size its next lease).
    private struct Lease {
        var granted = 0
        var used = 0
        /// As Redis answered the grant: remaining after its last event, µs until the burst is back.
        var remainingAfter = 0
        var resetAfter: Int64 = 0
        var expires: ContinuousClock.Instant
        var paceSince: ContinuousClock.Instant
        var asksSince = 0
        /// Asks per second, measured over the last tenth of a second or more.
        var pace = 0.0

        init(now: ContinuousClock.Instant) {
            expires = now
            paceSince = now
        }

        mutating func noteAsk(at now: ContinuousClock.Instant) {
            asksSince += 1
            let elapsed = now - paceSince
            if elapsed >= .milliseconds(100) {
                pace = Double(asksSince) / elapsed.seconds
                paceSince = now
                asksSince = 0
            }
        }
    }

    private struct State {
        var waiting: [Waiter] = []
        var calling = false
        var leases: [String: Lease] = [:]
    }

    private let redis: RedisClient
    /// Microseconds between events at the average rate, and the burst's span.
    private let interval: Int
    private let window: Int
    private let burst: Int
    private let lease: Duration
    private let state = Mutex(State())

    init(redis: RedisClient, interval: Int, window: Int, burst: Int, lease: Duration = .zero) {
        self.redis = redis
        self.interval = interval
        self.window = window
        self.burst = burst
        self.lease = lease
    }

    /// KEYS: the subjects. ARGV: interval and window (µs), then per key the events wanted, then
    /// per key 1 to consume or 0 to peek. Per key four integers come back: events granted,
    /// remaining after the last one granted, µs until the full burst is back, and µs until one
    /// more would be allowed (0 when all were granted).
    static let script = RedisScript("""
        local now_parts = redis.call('TIME')
        local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
        local interval = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local count = #KEYS
        local out = {}
        for i = 1, count do
            local wanted = tonumber(ARGV[2 + i])
            local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
            if tat < now then tat = now end
            local granted = math.max(0, math.min(wanted, math.floor((now + window - tat) / interval)))
            local last = tat + granted * interval
            if granted > 0 and ARGV[2 + count + i] ~= '0' then
                redis.call('SET', KEYS[i], tostring(last), 'PX', math.ceil((last - now) / 1000))
            end
            local retry = 0
            if granted < wanted then retry = last + interval - window - now end
            out[#out + 1] = granted
            out[#out + 1] = math.floor((window - (last - now)) / interval)
            out[#out + 1] = last - now
            out[#out + 1] = retry
        end
        return out
        """)

    /// The decision for one ask; `nil` when Redis could not answer.
    func decide(_ ask: Ask) async -> RateLimiter.Decision? {
        if lease > .zero, ask.consume, let leased = takeLeased(ask.key) { return leased }
        return await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiting.append(Waiter(ask: ask, continuation: continuation))
                if state.calling { return false }
                state.calling = true
                return true
            }
            if start { Task { await self.callUntilNoneWait() } }
        }
    }

    /// An event of the subject's lease, if one is left and the lease has not expired; notes the ask
    /// either way, for the size of the next lease.
    private func takeLeased(_ key: String) -> RateLimiter.Decision? {
        let now = ContinuousClock.now
        return state.withLock { state -> RateLimiter.Decision? in
            var entry = state.leases[key] ?? Lease(now: now)
            entry.noteAsk(at: now)
            defer { state.leases[key] = entry }
            guard entry.used < entry.granted, now < entry.expires else { return nil }
            entry.used += 1
            return decision(granted: entry.granted, remainingAfter: entry.remainingAfter, resetAfter: entry.resetAfter,
                            retryAfter: 0, rank: entry.used - 1)
        }
    }

    func leased(_ key: String) -> Int {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let entry = state.leases[key], now < entry.expires else { return 0 }
            return entry.granted - entry.used
        }
    }

    /// Events to take ahead for a subject: its recent pace over the lease's span, at most a tenth
    /// of the burst; none for a subject asking less than about once per span.
    private func ahead(_ key: String) -> Int {
        guard lease > .zero else { return 0 }
        let pace = state.withLock { $0.leases[key]?.pace ?? 0 }
        return min(burst / 10, Int(pace * lease.seconds))
    }

    /// Keeps what Redis granted beyond the group's asks as the subject's lease.
    private func keepLease(_ key: String, surplus: Int, remainingAfter: Int, resetAfter: Int64) {
        let now = ContinuousClock.now
        let expires = now + lease * 2
        state.withLock { state in
            var entry = state.leases[key] ?? Lease(now: now)
            entry.granted = surplus
            entry.used = 0
            entry.remainingAfter = remainingAfter
            entry.resetAfter = resetAfter
            entry.expires = expires
            state.leases[key] = entry
            // Subjects that stopped asking are forgotten once there are many.
            if state.leases.count > 10_000 {
                state.leases = state.leases.filter { now - $0.value.paceSince < .seconds(10) }
            }
        }
    }

    private func callUntilNoneWait() async {
        while true {
            let group = state.withLock { state -> [Waiter] in
                defer { state.waiting.removeAll(keepingCapacity: true) }
                if state.waiting.isEmpty { state.calling = false }
                return state.waiting
            }
            if group.isEmpty { return }
            await answer(group)
        }
    }

    /// One script run for the group: its asks merged per subject and kind, in first-arrival order.
    private func answer(_ group: [Waiter]) async {
        var asks: [Ask] = []
        var members: [[Int]] = []
        var position: [Ask: Int] = [:]
        for (index, waiter) in group.enumerated() {
            if let at = position[waiter.ask] {
                members[at].append(index)
            } else {
                position[waiter.ask] = asks.count
                asks.append(waiter.ask)
                members.append([index])
            }
        }
        let wanted = asks.indices.map { asks[$0].consume ? members[$0].count + ahead(asks[$0].key) : 1 }
        var values: [Int64]?
        do {
            let reply = try await redis.evaluate(Self.script, keys: asks.map(\.key),
                                                 arguments: [String(interval), String(window)] + wanted.map { String($0) }
                                                     + asks.map { $0.consume ? "1" : "0" })
            values = reply.array?.compactMap(\.integer)
            if values?.count != asks.count * 4 { values = nil }
        } catch {
            values = nil
        }
        for (at, ask) in asks.enumerated() {
            if let values, ask.consume, lease > .zero, Int(values[at * 4]) > members[at].count {
                keepLease(ask.key, surplus: Int(values[at * 4]) - members[at].count, remainingAfter: Int(values[at * 4 + 1]),
                          resetAfter: values[at * 4 + 2])
            }
            for (rank, index) in members[at].enumerated() {
                var answer: RateLimiter.Decision?
                if let values {
                    answer = decision(granted: Int(values[at * 4]), remainingAfter: Int(values[at * 4 + 1]),
                                      resetAfter: values[at * 4 + 2], retryAfter: values[at * 4 + 3], rank: ask.consume ? rank : 0)
                }
                group[index].continuation.resume(returning: answer)
            }
        }
    }

    /// What the `rank`-th ask of a subject (from 0, in arrival order) would have been answered alone.
    private func decision(granted: Int, remainingAfter: Int, resetAfter: Int64, retryAfter: Int64, rank: Int) -> RateLimiter.Decision {
        func seconds(_ microseconds: Int64) -> Int { Int((microseconds + 999_999) / 1_000_000) }
        guard rank < granted else {
            return RateLimiter.Decision(allowed: false, limit: burst, remaining: 0, resetSeconds: seconds(resetAfter),
                                        retryAfterSeconds: max(1, seconds(retryAfter)))
        }
        // Asks granted after this one each took one more event.
        let later = granted - 1 - rank
        return RateLimiter.Decision(allowed: true, limit: burst, remaining: remainingAfter + later,
                                    resetSeconds: seconds(resetAfter - Int64(later * interval)), retryAfterSeconds: 1)
    }
}
