import Foundation
import Logging
import SettleRedis
import SettleTestSupport
import Testing
@testable import OrderAPI

@Suite("Rate limiter (GCRA in Redis, asks grouped per call)")
struct RateLimiterTests {
    static let logger = Logger(label: "settle-rate-limiter-tests") { _ in SwiftLogNoOpLogHandler() }

    /// A limit too slow to refill during the test: only the burst can be granted.
    func limiter(burst: Int) throws -> RateLimiter {
        RateLimiter(redis: try RedisClient(url: TestStack.shared.redisURL, logger: Self.logger), rate: 0.01, burst: burst,
                    failOpen: true, keyspace: UniqueName.make("test:gcra") + ":")
    }

    @Test("60 asks of one subject at once: exactly the burst is allowed, each seeing its own RateLimit-Remaining, the rest refused")
    func concurrentAsksShareTheBurst() async throws {
        let limiter = try limiter(burst: 10)
        let decisions = await withTaskGroup(of: RateLimiter.Decision?.self) { group in
            for _ in 0..<60 { group.addTask { await limiter.decide(subject: "merchant") } }
            return await group.reduce(into: [RateLimiter.Decision?]()) { $0.append($1) }
        }
        let answered = decisions.compactMap { $0 }
        #expect(answered.count == 60, "Redis answered every ask")
        let allowed = answered.filter(\.allowed)
        #expect(allowed.count == 10)
        // As ten calls in a row would have answered: 9, 8, … 0 remaining, each once.
        #expect(allowed.map(\.remaining).sorted() == Array(0...9))
        for refused in answered where !refused.allowed {
            #expect(refused.remaining == 0)
            #expect(refused.retryAfterSeconds >= 1)
        }
        // Another subject has its own budget, and a peek consumes nothing.
        #expect(await limiter.decide(subject: "other", consume: false)?.allowed == true)
        #expect(await limiter.decide(subject: "other")?.remaining == 9)
        #expect(await limiter.decide(subject: "merchant")?.allowed == false)
    }

    @Test("Peeks asked together with consuming asks: the peeks consume nothing")
    func peeksConsumeNothing() async throws {
        let limiter = try limiter(burst: 5)
        let answers = await withTaskGroup(of: (consume: Bool, allowed: Bool?).self) { group in
            for index in 0..<40 {
                let consume = index % 4 != 0
                group.addTask { (consume, await limiter.decide(subject: "address", consume: consume)?.allowed) }
            }
            return await group.reduce(into: [(consume: Bool, allowed: Bool?)]()) { $0.append($1) }
        }
        #expect(answers.allSatisfy { $0.allowed != nil })
        // 30 consuming asks share the burst of 5 whatever the 10 peeks among them saw.
        #expect(answers.filter { $0.consume && $0.allowed == true }.count == 5)
        #expect(await limiter.decide(subject: "address", consume: false)?.allowed == false)
    }

    @Test("A busy key leases events ahead: asks right after Redis went silent are answered from the lease")
    func leaseAnswersWithoutRedis() async throws {
        guard let endpoint = RedisEndpoint(url: TestStack.shared.redisURL) else { throw RedisError.unavailable("REDIS_URL") }
        let proxy = try await StallingProxy.start(to: endpoint.host, port: endpoint.port)
        let redis = RedisClient(host: "127.0.0.1", port: proxy.port, logger: Self.logger, commandTimeout: .milliseconds(500))
        // A limit far above what the loop can ask: every ask is allowed.
        let limiter = RateLimiter(redis: redis, rate: 1_000_000, burst: 1_000_000, failOpen: true, lease: .milliseconds(50),
                                  keyspace: UniqueName.make("test:gcra") + ":")
        // Asking back to back gives the key a pace, and so a lease.
        try await eventually("the key to hold a lease", within: .seconds(10)) {
            #expect(await limiter.decide(subject: "busy")?.allowed == true)
            return limiter.leased(subject: "busy") > 0
        }
        // Redis goes silent and takes no new connection: only the lease can answer.
        proxy.stall()
        try await proxy.stop()
        #expect(await limiter.decide(subject: "busy")?.allowed == true, "answered from the lease, without Redis")
        await redis.shutdown()
    }

    @Test("Leases never let a key past its limit: at 2,000/s with a burst of 2,000, a second of asks gets at most 2,000 + 2,000 × its length")
    func leasesKeepTheLimit() async throws {
        let limiter = RateLimiter(redis: try RedisClient(url: TestStack.shared.redisURL, logger: Self.logger), rate: 2_000, burst: 2_000,
                                  failOpen: true, lease: .milliseconds(50), keyspace: UniqueName.make("test:gcra") + ":")
        let start = ContinuousClock.now
        // Eight askers back to back, faster than the limit, so the key both leases and runs dry.
        let (asked, allowed) = await withTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var asked = 0
                    var allowed = 0
                    while ContinuousClock.now - start < .seconds(1) {
                        asked += 1
                        if await limiter.decide(subject: "steady")?.allowed == true { allowed += 1 }
                    }
                    return (asked, allowed)
                }
            }
            return await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        // On a starved machine the loop may ask fewer times than the burst: then all are allowed.
        #expect(allowed >= min(2_000, asked), "the burst was granted: \(allowed) of \(asked) asks allowed")
        #expect(Double(allowed) <= 2_000 + 2_000 * elapsed + 1, "\(allowed) allowed in \(elapsed) s")
    }
}
