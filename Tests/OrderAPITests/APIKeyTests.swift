import Foundation
import SettleTestSupport
import Testing

/// `GET /v1/api-keys` against a real PostgreSQL.
@Suite("API keys")
struct APIKeyTests {
    @Test("A merchant lists its own keys: id, sk_ prefix and last four characters, never the key; another merchant's are not listed")
    func listOwnKeys() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let other = try await api.merchant()
            let answer = try await api.request(.get, "/v1/api-keys", as: merchant)
            #expect(answer.status == .ok)
            #expect(answer.headers[.cacheControl] == "no-store")
            let keys = try #require(try answer.json()["data"] as? [[String: Any]])
            try #require(keys.count == 1)
            let key = keys[0]
            #expect(key["object"] as? String == "api_key")
            #expect(key["prefix"] as? String == "sk_")
            #expect(key["last4"] as? String == String(merchant.key.suffix(4)))
            #expect(key["created"] as? Int != nil)
            #expect(key["revoked"] is NSNull && key["expires"] is NSNull)
            #expect(key["last_used"] is NSNull || key["last_used"] is Int, "written off the request path, so either may be seen")
            let text = String(buffer: answer.body)
            #expect(!text.contains(merchant.key) && !text.contains(String(merchant.key.dropFirst(3).prefix(8))), "the key itself never appears")

            let theirs = try #require(try await api.request(.get, "/v1/api-keys", as: other).json()["data"] as? [[String: Any]])
            #expect(theirs.count == 1)
            #expect(theirs[0]["id"] as? String != key["id"] as? String, "another merchant sees only its own key")
            #expect(try await api.request(.get, "/v1/api-keys", as: nil).status == .unauthorized)
        }
    }

    @Test("settle merchant keys list shows an operator the same keys, never a key itself")
    func operatorList() async throws {
        try await TestDatabase.with(migrated: true) { _, url in
            try await APIHarness.run(databaseURL: url) { api in
                let merchant = try await api.merchant()
                _ = try await api.merchant()
                let listed = try #require(try await api.request(.get, "/v1/api-keys", as: merchant).json()["data"] as? [[String: Any]])
                let text = try await Tool.output(TestStack.executable("settle").path, ["merchant", "keys", "list", "--merchant", merchant.id.lowercased],
                                                 environment: ["DATABASE_URL": url.absoluteString])
                let id = try #require(listed.first?["id"] as? String)
                #expect(text.contains(id) && text.contains("sk_…" + String(merchant.key.suffix(4))) && text.contains("active"), "\(text)")
                #expect(text.split(separator: "\n").count == 1, "only this merchant's key: \(text)")
                #expect(!text.contains(merchant.key))
            }
        }
    }

    @Test("settle merchant keys roll and revoke: the operator's new key works, and a key revoked from the command line is refused by a running API within a second")
    func operatorRollAndRevoke() async throws {
        let redis = try PrivateRedisServer()
        try await TestDatabase.with(migrated: true) { _, url in
            try await APIHarness.run(environment: ["SETTLE_API_KEY_CACHE_FALLBACK_MS": "60000"], databaseURL: url,
                                     redis: ("127.0.0.1", redis.port)) { api in
                try await eventually("the API to listen for key changes") {
                    (try? await api.redis.send(["PUBSUB", "NUMSUB", "settle:api-keys:changed"]))?.array?.last?.integer == 1
                }
                let merchant = try await api.merchant()
                #expect(try await api.request(.get, "/v1/orders", as: merchant).status == .ok)
                let environment = ["DATABASE_URL": url.absoluteString, "REDIS_URL": "redis://127.0.0.1:\(redis.port)"]
                let settle = TestStack.executable("settle").path
                let rolled = try await Tool.output(settle, ["merchant", "keys", "roll", "--merchant", merchant.id.lowercased,
                                                            "--expire-in", "3600", "--json"], environment: environment)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(rolled.utf8)) as? [String: Any], "\(rolled)")
                let new = APIHarness.Merchant(id: merchant.id, key: try #require(object["secret"] as? String))
                #expect(try await api.request(.get, "/v1/orders", as: new).status == .ok)
                #expect(try await api.request(.get, "/v1/orders", as: merchant).status == .ok, "the old key works during the overlap")

                let listed = try #require(try await api.request(.get, "/v1/api-keys", as: new).json()["data"] as? [[String: Any]])
                let oldID = try #require(listed.first { $0["last4"] as? String == String(merchant.key.suffix(4)) }?["id"] as? String)
                let revoked = try await Tool.output(settle, ["merchant", "keys", "revoke", "--merchant", merchant.id.lowercased, "--key", oldID],
                                                    environment: environment)
                #expect(revoked.contains("revoked") && !revoked.contains("warning"), "\(revoked)")
                try await eventually("the API to refuse the revoked key", within: .seconds(1)) {
                    try await api.request(.get, "/v1/orders", as: merchant).status == .unauthorized
                }
                #expect(try await api.request(.get, "/v1/orders", as: new).status == .ok)
                let other = try await api.merchant()
                await #expect(throws: (any Error).self, "another merchant's key id is refused") {
                    _ = try await Tool.output(settle, ["merchant", "keys", "revoke", "--merchant", other.id.lowercased, "--key", oldID],
                                              environment: environment)
                }
            }
        }
    }
}
