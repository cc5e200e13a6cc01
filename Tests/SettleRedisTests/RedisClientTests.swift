import Foundation
import Logging
import SettleRedis
import SettleTestSupport
import Testing

@Suite("Redis client")
struct RedisClientTests {
    static let logger = Logger(label: "settle-redis-tests") { _ in SwiftLogNoOpLogHandler() }

    func client() throws -> RedisClient {
        try RedisClient(url: TestStack.shared.redisURL, logger: Self.logger)
    }

    @Test("GET, SET with expiry, DEL and PING")
    func commands() async throws {
        let redis = try client()
        let key = UniqueName.make("test:key")
        try await redis.ping()
        #expect(try await redis.getString(key) == nil)
        try await redis.set(key, to: "value")
        #expect(try await redis.getString(key) == "value")
        #expect(try await redis.delete([key, UniqueName.make("absent")]) == 1)
        #expect(try await redis.getString(key) == nil)

        try await redis.set(key, to: "long-lived", expiry: .seconds(60))
        #expect(try await redis.send(["PTTL", key]).integer.map { $0 > 0 && $0 <= 60_000 } == true)
        try await redis.set(key, to: "short-lived", expiry: .milliseconds(50))
        try await eventually("the key to expire") { try await redis.getString(key) == nil }

        let binary: [UInt8] = [0, 1, 2, 255, 13, 10]
        try await redis.set(key, to: binary)
        #expect(try await redis.get(key) == binary)
        await redis.shutdown()
    }

    @Test("A server error is thrown as RedisError.server")
    func serverError() async throws {
        let redis = try client()
        let key = UniqueName.make("test:list")
        try await redis.send(["LPUSH", key, "x"])
        await #expect(throws: RedisError.self) { try await redis.getString(key) }
        await redis.shutdown()
    }

    @Test("EVALSHA loads the script when Redis does not know it (NOSCRIPT)")
    func evalshaFallback() async throws {
        let redis = try client()
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let key = UniqueName.make("test:counter")
        #expect(try await redis.evaluate(script, keys: [key], arguments: ["5"]).integer == 5)
        // Forget every script, as a restarted Redis would: the next call reloads it.
        try await redis.send(["SCRIPT", "FLUSH"])
        #expect(try await redis.evaluate(script, keys: [key], arguments: ["2"]).integer == 7)
        await redis.shutdown()
    }

    @Test("Pipelining: 100 concurrent tasks share one connection and every reply reaches its caller")
    func pipelining() async throws {
        let redis = try client()
        let prefix = UniqueName.make("test:pipe")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<100 {
                group.addTask {
                    for step in 1...20 {
                        let value = try await redis.send(["INCR", "\(prefix):\(task)"]).integer
                        #expect(value == Int64(step))
                    }
                    try await redis.set("\(prefix):echo:\(task)", to: "task-\(task)")
                    #expect(try await redis.getString("\(prefix):echo:\(task)") == "task-\(task)")
                }
            }
            try await group.waitForAll()
        }
        await redis.shutdown()
    }

    @Test("redis-server killed and restarted: calls fail fast while it is down, then work again")
    func restart() async throws {
        let server = try PrivateRedisServer()
        let redis = RedisClient(host: "127.0.0.1", port: server.port, logger: Self.logger)
        try await eventually("the private redis-server to answer") { (try? await redis.ping()) != nil }
        try await redis.set("k", to: "before")

        try await server.stop()
        // Calls in flight or made while Redis is gone fail with an error; none hangs.
        try await eventually("calls to fail while Redis is down", within: .seconds(10)) {
            do {
                try await redis.ping()
                return false
            } catch let error as RedisError {
                switch error {
                case .unavailable, .connectionLost: return true
                default: return false
                }
            }
        }
        let started = ContinuousClock.now
        await #expect(throws: RedisError.self) { try await redis.ping() }
        #expect(ContinuousClock.now - started < .seconds(2), "a call with Redis down fails at once instead of hanging")

        try server.start()
        try await eventually("the client to reconnect", within: .seconds(10)) { (try? await redis.ping()) != nil }
        try await redis.set("k", to: "after")
        #expect(try await redis.getString("k") == "after")
        await redis.shutdown()
    }

    @Test("A reply that never comes fails the call at the command time-out and drops the connection; the next call reconnects",
          .timeLimit(.minutes(1)))
    func silentConnection() async throws {
        guard let endpoint = RedisEndpoint(url: TestStack.shared.redisURL) else { throw RedisError.unavailable("REDIS_URL") }
        let proxy = try await StallingProxy.start(to: endpoint.host, port: endpoint.port)
        let redis = RedisClient(host: "127.0.0.1", port: proxy.port, logger: Self.logger, commandTimeout: .milliseconds(300))
        try await redis.ping()

        proxy.stall()
        // Several calls in flight on the silent connection: every one fails, none hangs.
        let failures = await withTaskGroup(of: RedisError?.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    do {
                        try await redis.ping()
                        return nil
                    } catch {
                        return error as? RedisError
                    }
                }
            }
            return await group.reduce(into: [RedisError?]()) { $0.append($1) }
        }
        for failure in failures {
            guard case .connectionLost? = failure else {
                Issue.record("expected connectionLost, got \(String(describing: failure))")
                continue
            }
        }
        // The stalled connection was closed, so the next call gets a fresh one through the proxy.
        try await eventually("a new connection to answer", within: .seconds(10)) { (try? await redis.ping()) != nil }
        await redis.shutdown()
        try await proxy.stop()
    }
}
