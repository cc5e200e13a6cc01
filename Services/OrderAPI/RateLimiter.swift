import Foundation
import Metrics
import SettleDomain
import SettleRedis

/// GCRA (the generic cell rate algorithm) in one Redis Lua call per decision, per subject (an
/// API key for the request limit, a client address for failed authentications): `rate` events
/// per second on average, up to `burst` at once. A subject's state is a single timestamp (the
/// theoretical arrival time), kept only as long as it matters.
struct RateLimiter: Sendable {
    struct Decision: Sendable {
        var allowed: Bool
        var limit: Int
        var remaining: Int
        /// Seconds until the full burst is available again.
        var resetSeconds: Int
        /// Seconds until a request would be allowed (only when not allowed).
        var retryAfterSeconds: Int
    }

    let redis: RedisClient?
    let rate: Double
    let burst: Int
    /// When Redis cannot be asked: allow (and count it) or refuse.
    let failOpen: Bool
    /// Where the subjects' state lives in Redis.
    let keyspace: String
    private let allowed: Counter
    private let limited: Counter
    private let failedOpen: Counter
    private let failedClosed: Counter

    /// - Parameter metric: the counter of decisions, labelled `decision`.
    init(redis: RedisClient?, rate: Double, burst: Int, failOpen: Bool,
         keyspace: String = "settle:ratelimit:", metric: String = "settle_api_rate_limit_decisions_total") {
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self.failOpen = failOpen
        self.keyspace = keyspace
        func decisions(_ decision: String) -> Counter { Counter(label: metric, dimensions: [("decision", decision)]) }
        allowed = decisions("allowed")
        limited = decisions("limited")
        failedOpen = decisions("fail_open")
        failedClosed = decisions("fail_closed")
    }

    static let script = RedisScript("""
        local now_parts = redis.call('TIME')
        local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
        local interval = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tat < now then tat = now end
        local new_tat = tat + interval
        if new_tat - now > window then
            return {0, 0, tat - now, new_tat - window - now}
        end
        if ARGV[3] ~= '0' then
            redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) / 1000))
        end
        return {1, math.floor((window - (new_tat - now)) / interval), new_tat - now, 0}
        """)

    /// Asks Redis whether the key may make a request now; `nil` when Redis could not answer.
    func decide(keyHash: [UInt8]) async -> Decision? {
        await decide(subject: Hex.encode(keyHash.prefix(16)))
    }

    /// Asks Redis whether the subject may have one more event now, and counts it unless
    /// `consume` is false (a peek); `nil` when Redis could not answer.
    func decide(subject: String, consume: Bool = true) async -> Decision? {
        guard let redis else { return nil }
        let interval = max(1, Int(1_000_000 / rate))
        let window = interval * burst
        do {
            let reply = try await redis.evaluate(Self.script, keys: [keyspace + subject],
                                                 arguments: [String(interval), String(window), consume ? "1" : "0"])
            guard let values = reply.array?.compactMap(\.integer), values.count == 4 else { return nil }
            let decision = Decision(allowed: values[0] == 1, limit: burst, remaining: Int(values[1]),
                                    resetSeconds: Int((values[2] + 999_999) / 1_000_000),
                                    retryAfterSeconds: max(1, Int((values[3] + 999_999) / 1_000_000)))
            if consume { (decision.allowed ? allowed : limited).increment() }
            return decision
        } catch {
            (failOpen ? failedOpen : failedClosed).increment()
            return nil
        }
    }
}
