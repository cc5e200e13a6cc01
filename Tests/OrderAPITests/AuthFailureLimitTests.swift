import Foundation
import HTTPTypes
import SettleTestSupport
import Testing

/// Failed authentications limited per client address (GCRA in a real, private Redis).
@Suite("Failed authentication limit")
struct AuthFailureLimitTests {
    static let trustLoopback = ["SETTLE_TRUSTED_PROXIES": "127.0.0.1/32", "SETTLE_AUTH_FAILURE_BURST": "20",
                                "SETTLE_AUTH_FAILURES_PER_MINUTE": "1"]  // one more a minute: a loaded machine's slowness cannot refill the burst

    static func badKey() -> APIHarness.Merchant {
        APIHarness.Merchant(id: UUID(), key: "sk_" + String(repeating: "0", count: 56) + String(UInt32.random(in: 0x1000_0000...0xFFFF_FFFF), radix: 16))
    }

    @Test("50 bad keys from one address: 401 up to the burst, then 429 with Retry-After for any key not already in use, while another address still gets in")
    func bruteForce() async throws {
        let redis = try PrivateRedisServer()
        try await APIHarness.run(environment: Self.trustLoopback, redis: ("127.0.0.1", redis.port)) { api in
            try await eventually("the private redis-server to answer") { (try? await api.redis.ping()) != nil }
            let attacker = ["X-Forwarded-For": "203.0.113.7"]
            var statuses: [HTTPResponse.Status] = []
            var retryAfter: String?
            for _ in 0..<50 {
                let answer = try await api.request(.get, "/v1/orders", as: Self.badKey(), headers: attacker)
                statuses.append(answer.status)
                if answer.status == .tooManyRequests {
                    retryAfter = answer.headers[.retryAfter]
                    #expect(answer.problemCode == "authentication_rate_limited")
                }
            }
            #expect(statuses.prefix(20).allSatisfy { $0 == .unauthorized }, "\(statuses)")
            #expect(statuses.suffix(25).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
            #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 } == true)

            // A real key the process does not hold yet gets the same 429 from that address: the
            // answer says nothing of whether a key exists.
            let merchant = try await api.merchant()
            let fromAttacker = try await api.request(.get, "/v1/orders", as: merchant, headers: attacker)
            #expect(fromAttacker.status == .tooManyRequests)
            // Another address is not affected.
            #expect(try await api.request(.get, "/v1/orders", as: merchant, headers: ["X-Forwarded-For": "198.51.100.9"]).status == .ok)
            // A revoked or unknown key: the same 401 body.
            let unknown = try await api.request(.get, "/v1/orders", as: Self.badKey(), headers: ["X-Forwarded-For": "198.51.100.10"])
            let id = try #require(try await api.request(.get, "/v1/api-keys", as: merchant).json()["data"] as? [[String: Any]]).first?["id"] as? String
            #expect(try await api.request(.post, "/v1/api-keys/\(id ?? "")/revoke", as: merchant, idempotencyKey: UniqueName.make("key-change")).status == .ok)
            let revoked = try await api.request(.get, "/v1/orders", as: merchant, headers: ["X-Forwarded-For": "198.51.100.10"])
            #expect(unknown.status == .unauthorized && revoked.status == .unauthorized)
            #expect(unknown.bytes == revoked.bytes, "a revoked key and a key that never existed are answered alike")
        }
    }

    @Test("X-Forwarded-For from a peer that is not a trusted proxy is ignored: a new address per request does not escape the limit")
    func untrustedForwardedFor() async throws {
        let redis = try PrivateRedisServer()
        try await APIHarness.run(environment: ["SETTLE_AUTH_FAILURE_BURST": "5", "SETTLE_AUTH_FAILURES_PER_MINUTE": "1"], redis: ("127.0.0.1", redis.port)) { api in
            try await eventually("the private redis-server to answer") { (try? await api.redis.ping()) != nil }
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<10 {
                statuses.append(try await api.request(.get, "/v1/orders", as: Self.badKey(), headers: ["X-Forwarded-For": "192.0.2.\(index)"]).status)
            }
            #expect(statuses.suffix(4).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
        }
    }
}
