import Foundation
import HTTPTypes
import SettleTestSupport
import SettleRedis
import SettleStorage
import Testing
@testable import OrderAPI

/// Rolling and revoking API keys against a real PostgreSQL and a real Redis: the overlap, the
/// events, revocation reaching every API process, and what happens while Redis is down.
@Suite("API key lifecycle")
struct APIKeyLifecycleTests {
    static func keys(_ api: APIHarness, _ merchant: APIHarness.Merchant) async throws -> [[String: Any]] {
        try #require(try await api.request(.get, "/v1/api-keys", as: merchant).json()["data"] as? [[String: Any]])
    }

    static func works(_ api: APIHarness, _ key: APIHarness.Merchant) async throws -> Bool {
        let status = try await api.request(.get, "/v1/orders", as: key).status
        #expect(status == .ok || status == .unauthorized, "\(status)")
        return status == .ok
    }

    @Test("Roll with an overlap: both keys work, the new key is shown once, and a replay of the roll holds no key")
    func rollWithOverlap() async throws {
        try await APIHarness.run { api in
            let old = try await api.merchant()
            #expect(try await Self.works(api, old))
            let idempotencyKey = UniqueName.make("roll")
            let rolled = try await api.request(.post, "/v1/api-keys/roll", as: old, body: #"{"expire_current_in_seconds":3600}"#,
                                               idempotencyKey: idempotencyKey)
            #expect(rolled.status == .created)
            #expect(rolled.headers[.cacheControl] == "no-store")
            let object = try rolled.json()
            let secret = try #require(object["secret"] as? String)
            #expect(secret.hasPrefix("sk_") && secret != old.key)
            #expect(object["last4"] as? String == String(secret.suffix(4)))
            let new = APIHarness.Merchant(id: old.id, key: secret)

            // The old key now carries its expiry; the new one has none.
            let listed = try await Self.keys(api, new)
            #expect(listed.count == 2)
            let oldEntry = try #require(listed.first { $0["last4"] as? String == String(old.key.suffix(4)) })
            let expires = try #require(oldEntry["expires"] as? Int)
            #expect(abs(expires - Int(Date().timeIntervalSince1970) - 3600) < 120)
            #expect(listed.first { $0["id"] as? String == object["id"] as? String }?["expires"] is NSNull)

            // A retry with the same key replays the answer, without the key.
            let replay = try await api.request(.post, "/v1/api-keys/roll", as: old, body: #"{"expire_current_in_seconds":3600}"#,
                                               idempotencyKey: idempotencyKey)
            #expect(replay.status == .created)
            #expect(replay.headers[IdempotencyKeyHeader.replayed] == "true")
            #expect(try replay.json()["id"] as? String == object["id"] as? String)
            #expect(try replay.json()["secret"] == nil, "a stored answer never holds a key")
            #expect(try await Self.keys(api, new).count == 2, "the replay made no key")

            // During the overlap both keys work.
            #expect(try await Self.works(api, old))
            #expect(try await Self.works(api, new))

            let events = try #require(try await api.request(.get, "/v1/events?type=key.rolled", as: new).json()["data"] as? [[String: Any]])
            try #require(events.count == 1)
            let data = try #require(events[0]["data"] as? [String: Any])
            #expect((data["object"] as? [String: Any])?["id"] as? String == object["id"] as? String)
            #expect((data["expiring"] as? [[String: Any]])?.first?["id"] as? String == oldEntry["id"] as? String)
            #expect(!String(buffer: try await api.request(.get, "/v1/events", as: new).body).contains(secret), "no event holds a key")
        }
    }

    @Test("A rolled-out key is refused from its expiry instant on, although the process remembers it")
    func refusedFromExpiry() async throws {
        try await APIHarness.run { api in
            let old = try await api.merchant()
            #expect(try await Self.works(api, old))  // remembered from here on
            let rolled = try await api.request(.post, "/v1/api-keys/roll", as: old, body: #"{"expire_current_in_seconds":1}"#, idempotencyKey: UniqueName.make("key-change"))
            #expect(rolled.status == .created)
            let new = APIHarness.Merchant(id: old.id, key: try #require(try rolled.json()["secret"] as? String))
            let expires = try #require(try await Self.keys(api, new).first { $0["last4"] as? String == String(old.key.suffix(4)) }?["expires"] as? Int)
            try await eventually("the old key's expiry instant to pass", within: .seconds(10)) {
                Date().timeIntervalSince1970 >= Double(expires + 1)
            }
            let refused = try await api.request(.get, "/v1/orders", as: old)
            #expect(refused.status == .unauthorized)
            #expect(refused.problemCode == "api_key_invalid")
            #expect(try await Self.works(api, new))
        }
    }

    @Test("A roll that ends the current key at once: the old key is refused by the next request")
    func rollNow() async throws {
        try await APIHarness.run { api in
            let old = try await api.merchant()
            #expect(try await Self.works(api, old))
            let rolled = try await api.request(.post, "/v1/api-keys/roll", as: old, body: "", idempotencyKey: UniqueName.make("key-change"))
            #expect(rolled.status == .created)
            let new = APIHarness.Merchant(id: old.id, key: try #require(try rolled.json()["secret"] as? String))
            #expect(!(try await Self.works(api, old)))
            #expect(try await Self.works(api, new))
        }
    }

    @Test("Bad roll bodies are 400 with a code and param and change nothing")
    func badRollBodies() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            for body in [#"{"expire_current_in_seconds":-1}"#, #"{"expire_current_in_seconds":604801}"#,
                         #"{"expire_current_in_seconds":"60"}"#, #"{"expire_current_in_seconds":1.5}"#, #"{"overlap":60}"#, "[]"] {
                let answer = try await api.request(.post, "/v1/api-keys/roll", as: merchant, body: body, idempotencyKey: UniqueName.make("key-change"))
                #expect(answer.status == .badRequest, "\(body)")
                #expect(answer.problemCode != nil, "\(body)")
            }
            #expect(try await Self.keys(api, merchant).count == 1)
            #expect(try await Self.works(api, merchant))
        }
    }

    @Test("Revoke: the key is refused at once, a key.revoked event is recorded once, and another merchant can neither see nor revoke it (404)")
    func revokeAndTenancy() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let other = try await api.merchant()
            let second = APIHarness.Merchant(
                id: merchant.id,
                key: try #require(try await api.request(.post, "/v1/api-keys/roll", as: merchant, body: #"{"expire_current_in_seconds":3600}"#, idempotencyKey: UniqueName.make("key-change"))
                    .json()["secret"] as? String))
            let firstID = try #require(try await Self.keys(api, merchant).first { $0["last4"] as? String == String(merchant.key.suffix(4)) }?["id"] as? String)

            let theirs = try await api.request(.post, "/v1/api-keys/\(firstID)/revoke", as: other, idempotencyKey: UniqueName.make("revoke"))
            #expect(theirs.status == .notFound)
            #expect(theirs.problemCode == "resource_missing")
            #expect(try await Self.works(api, merchant), "another merchant's attempt changed nothing")
            #expect(try await api.request(.post, "/v1/api-keys/not-a-uuid/revoke", as: merchant, idempotencyKey: UniqueName.make("key-change")).status == .notFound)

            let revoked = try await api.request(.post, "/v1/api-keys/\(firstID)/revoke", as: second, idempotencyKey: UniqueName.make("key-change"))
            #expect(revoked.status == .ok)
            #expect(try revoked.json()["revoked"] as? Int != nil)
            #expect(!(try await Self.works(api, merchant)))
            #expect(try await Self.works(api, second))
            #expect(try await api.request(.post, "/v1/api-keys/\(firstID)/revoke", as: second, idempotencyKey: UniqueName.make("key-change")).status == .ok, "revoking again is harmless")
            let events = try #require(try await api.request(.get, "/v1/events?type=key.revoked", as: second).json()["data"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect(((events.first?["data"] as? [String: Any])?["object"] as? [String: Any])?["id"] as? String == firstID)
        }
    }

    /// Two real `settle-api` processes on one database and a private Redis, both listening for
    /// key changes, and a merchant's key.
    static func twoProcesses(_ redis: PrivateRedisServer, _ settings: [String: String],
                             _ body: @Sendable (APIProcess, APIProcess, _ key: String) async throws -> Void) async throws {
        try await TestDatabase.with(migrated: true) { client, url in
            let children = ChildProcesses()
            do {
                var values = settings
                values["DATABASE_URL"] = url.absoluteString
                values["REDIS_URL"] = "redis://127.0.0.1:\(redis.port)"
                let first = try await APIProcess.start(values, children: children)
                let second = try await APIProcess.start(values, children: children)
                let watcher = RedisClient(host: "127.0.0.1", port: redis.port, logger: APIHarness.logger)
                try await eventually("both processes to listen for key changes") {
                    let reply = try? await watcher.send(["PUBSUB", "NUMSUB", "settle:api-keys:changed"])
                    return reply?.array?.last?.integer == 2
                }
                await watcher.shutdown()
                let merchant = try await MerchantStore(client: client, logger: APIHarness.logger).create(name: UniqueName.make("merchant"))
                try await body(first, second, merchant.apiKey)
            } catch {
                await children.stopAll()
                throw error
            }
            await children.stopAll()
        }
    }

    @Test("A revoked key is refused by every settle-api process within a second: the change reaches each one's cache through Redis")
    func revokeReachesEveryProcess() async throws {
        let redis = try PrivateRedisServer()
        // Without the message, the other process would remember the key for a minute either way.
        try await Self.twoProcesses(redis, ["SETTLE_API_KEY_CACHE_SECONDS": "60", "SETTLE_API_KEY_CACHE_FALLBACK_MS": "60000"]) { first, second, key in
            #expect(try await first.request(.GET, "/v1/orders", key: key).status == 200)
            #expect(try await second.request(.GET, "/v1/orders", key: key).status == 200)
            let id = try #require((try await first.request(.GET, "/v1/api-keys", key: key).json["data"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try await first.request(.POST, "/v1/api-keys/\(id)/revoke", key: key).status == 200)
            #expect(try await first.request(.GET, "/v1/orders", key: key).status == 401)
            try await eventually("the other process to refuse the key", within: .seconds(1)) {
                try await second.request(.GET, "/v1/orders", key: key).status == 401
            }
        }
    }

    @Test("Revoked while Redis is down: every settle-api process refuses the key within the short fallback lifetime")
    func revokeWhileRedisDown() async throws {
        let redis = try PrivateRedisServer()
        try await Self.twoProcesses(redis, ["SETTLE_API_KEY_CACHE_SECONDS": "60", "SETTLE_API_KEY_CACHE_FALLBACK_MS": "1000"]) { first, second, key in
            try await redis.stop()
            // The other process remembers the key, now only for the fallback lifetime.
            #expect(try await second.request(.GET, "/v1/orders", key: key).status == 200)
            let id = try #require((try await first.request(.GET, "/v1/api-keys", key: key).json["data"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try await first.request(.POST, "/v1/api-keys/\(id)/revoke", key: key).status == 200)
            #expect(try await first.request(.GET, "/v1/orders", key: key).status == 401)
            try await eventually("the other process to refuse the key", within: .seconds(3)) {
                try await second.request(.GET, "/v1/orders", key: key).status == 401
            }
        }
    }

    @Test("A key's last use is recorded off the request path")
    func lastUsed() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let before = Int(Date().timeIntervalSince1970)
            #expect(try await Self.works(api, merchant))
            try await eventually("last_used to be recorded", within: .seconds(20)) {
                try await Self.keys(api, merchant).first?["last_used"] is Int
            }
            let lastUsed = try #require(try await Self.keys(api, merchant).first?["last_used"] as? Int)
            #expect(lastUsed >= before - 1 && lastUsed <= Int(Date().timeIntervalSince1970) + 1)
        }
    }
}
