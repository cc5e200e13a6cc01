import Foundation
import HTTPTypes
import PostgresNIO
import SettleDomain
import SettleStorage
import SettleTestSupport
import Testing
@testable import OrderAPI

/// `/v1/webhook-endpoints` against a live API and a real PostgreSQL. No webhook is sent here:
/// URLs point at loopback (allowed by configuration, as the local stack does) or are refused
/// before anything connects.
@Suite("Webhook endpoints")
struct WebhookEndpointTests {
    static let loopback = ["SETTLE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"]

    static func body(url: String = "http://127.0.0.1:7199/hooks", events: String = #"["payment.succeeded"]"#, extra: String = "") -> String {
        #"{"url":"\#(url)","enabled_events":\#(events)\#(extra)}"#
    }

    static func endpointCount(_ api: APIHarness, _ merchant: APIHarness.Merchant) async throws -> Int {
        for try await count in try await api.database.query(
            "SELECT count(*)::int FROM webhook_endpoints WHERE merchant_id = \(merchant.id)", logger: APIHarness.logger).decode(Int.self) {
            return count
        }
        return 0
    }

    @Test("Create, get, list, disable, enable, delete: the secret is shown once and never cached; another merchant's endpoint is 404")
    func lifecycle() async throws {
        try await APIHarness.run(environment: Self.loopback) { api in
            let merchant = try await api.merchant()
            let other = try await api.merchant()
            let created = try await api.request(.post, "/v1/webhook-endpoints", as: merchant,
                                                body: Self.body(events: #"["payment.succeeded","payment.failed"]"#, extra: #","description":"orders","fifo":true"#))
            #expect(created.status == .created, "\(created.status) \(created.problemCode ?? "")")
            #expect(created.headers[.cacheControl] == "no-store")
            let object = try created.json()
            let id = try #require(object["id"] as? String)
            let secret = try #require(object["secret"] as? String)
            #expect(WebhookSecret.key(secret)?.count == 32)
            #expect(object["object"] as? String == "webhook_endpoint")
            #expect(object["url"] as? String == "http://127.0.0.1:7199/hooks")
            #expect(object["enabled_events"] as? [String] == ["payment.succeeded", "payment.failed"])
            #expect(object["fifo"] as? Bool == true)
            #expect(object["status"] as? String == "enabled")
            #expect(object["description"] as? String == "orders")
            let endpointID = try #require(UUID(uuidString: id))
            #expect(try await WebhookEndpointStore(client: api.database, logger: APIHarness.logger).signingSecrets(endpointID) == [secret])

            let read = try await api.request(.get, "/v1/webhook-endpoints/\(id)", as: merchant)
            #expect(read.status == .ok)
            #expect(try read.json()["secret"] == nil, "a read never shows the secret")
            #expect(try read.json()["fifo"] as? Bool == true)
            #expect(read.headers[.cacheControl] == "no-store")
            let listed = try await api.request(.get, "/v1/webhook-endpoints", as: merchant)
            let items = try #require(try listed.json()["data"] as? [[String: Any]])
            #expect(items.map { $0["id"] as? String } == [id])
            #expect(items.allSatisfy { $0["secret"] == nil })

            // Another merchant sees nothing and can change nothing.
            for (method, path) in [(HTTPRequest.Method.get, ""), (.delete, ""), (.post, "/disable"), (.post, "/enable"), (.post, "/rotate-secret")] {
                let response = try await api.request(method, "/v1/webhook-endpoints/\(id)\(path)", as: other)
                #expect(response.status == .notFound, "\(method) \(path)")
                #expect(response.problemCode == "resource_missing")
            }
            #expect(try await api.request(.get, "/v1/webhook-endpoints", as: other).json()["data"] as? [Any] != nil)
            #expect((try await api.request(.get, "/v1/webhook-endpoints", as: other).json()["data"] as? [Any])?.isEmpty == true)

            let disabled = try await api.request(.post, "/v1/webhook-endpoints/\(id)/disable", as: merchant)
            #expect(try disabled.json()["status"] as? String == "disabled")
            #expect(try disabled.json()["disabled_reason"] as? String == "manual")
            let enabled = try await api.request(.post, "/v1/webhook-endpoints/\(id)/enable", as: merchant)
            #expect(try enabled.json()["status"] as? String == "enabled")
            #expect(try enabled.json()["disabled_reason"] is NSNull)

            let deleted = try await api.request(.delete, "/v1/webhook-endpoints/\(id)", as: merchant)
            #expect(deleted.status == .ok)
            #expect(try deleted.json()["deleted"] as? Bool == true)
            #expect(try await api.request(.get, "/v1/webhook-endpoints/\(id)", as: merchant).status == .notFound)
            #expect(try await api.request(.delete, "/v1/webhook-endpoints/\(id)", as: merchant).status == .notFound)
            #expect((try await api.request(.get, "/v1/webhook-endpoints", as: merchant).json()["data"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("The same Idempotency-Key and body replays the same endpoint and secret; another body with it is 422")
    func idempotentCreate() async throws {
        try await APIHarness.run(environment: Self.loopback) { api in
            let merchant = try await api.merchant()
            let key = UniqueName.make("endpoint")
            let first = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(), idempotencyKey: key)
            let again = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(), idempotencyKey: key)
            #expect(first.status == .created)
            #expect(again.status == .created)
            #expect(again.bytes == first.bytes)
            #expect(again.headers[IdempotencyKeyHeader.replayed] == "true")
            #expect(again.headers[.cacheControl] == "no-store")
            let other = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(events: #"["*"]"#), idempotencyKey: key)
            #expect(other.status == .unprocessableContent)
            #expect(try await Self.endpointCount(api, merchant) == 1)
        }
    }

    @Test("A URL leading to loopback, a private network or the metadata service is 400 url_not_allowed and stores nothing")
    func refusedURLs() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            for url in ["http://127.0.0.1:7199/hooks", "http://localhost/hooks", "http://10.0.0.5/", "http://192.168.1.20/",
                        "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:10.0.0.1]/", "http://2130706433/"] {
                let key = UniqueName.make("refused")
                let response = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(url: url), idempotencyKey: key)
                #expect(response.status == .badRequest, "\(url)")
                #expect(response.problemCode == "url_not_allowed", "\(url)")
                #expect(response.problemParam == "url")
                // The key stays free: the corrected request succeeds with it.
                let corrected = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(url: "https://93.184.215.14/hooks"),
                                                      idempotencyKey: key)
                #expect(corrected.status == .created, "\(url): \(corrected.problemCode ?? "")")
                _ = try await api.request(.delete, "/v1/webhook-endpoints/\(try corrected.json()["id"] as? String ?? "")", as: merchant)
            }
            #expect(try await Self.endpointCount(api, merchant) == 8, "only the corrected ones")
        }
        // With loopback allowed (as the local stack runs), loopback passes and private ranges still do not.
        try await APIHarness.run(environment: Self.loopback) { api in
            let merchant = try await api.merchant()
            #expect(try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body()).status == .created)
            let privateRange = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(url: "http://10.0.0.5/"))
            #expect(privateRange.problemCode == "url_not_allowed")
        }
    }

    @Test("Bad bodies are 400 with a code and param and store nothing")
    func badBodies() async throws {
        try await APIHarness.run(environment: Self.loopback) { api in
            let merchant = try await api.merchant()
            let cases: [(String, String, String)] = [
                (#"{"enabled_events":["*"]}"#, "parameter_missing", "url"),
                (#"{"url":"http://127.0.0.1/"}"#, "parameter_missing", "enabled_events"),
                (Self.body(url: "ftp://127.0.0.1/"), "url_invalid", "url"),
                (Self.body(url: "http://u:p@127.0.0.1/"), "url_invalid", "url"),
                (Self.body(events: "[]"), "parameter_invalid", "enabled_events"),
                (Self.body(events: #"["order.created"]"#), "parameter_invalid", "enabled_events"),
                (Self.body(events: #"["*","payment.failed"]"#), "parameter_invalid", "enabled_events"),
                (Self.body(events: #""payment.failed""#), "parameter_invalid", "enabled_events"),
                (Self.body(extra: #","fifo":"yes""#), "parameter_invalid", "fifo"),
                (Self.body(extra: #","description":"\#(String(repeating: "d", count: 501))""#), "parameter_invalid", "description"),
                (Self.body(extra: #","secret":"whsec_mine""#), "parameter_unknown", "secret"),
            ]
            for (body, code, param) in cases {
                let response = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.problemCode == code, "\(body)")
                #expect(response.problemParam == param, "\(body)")
            }
            let created = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body())
            let id = try #require(try created.json()["id"] as? String)
            let withBody = try await api.request(.post, "/v1/webhook-endpoints/\(id)/rotate-secret", as: merchant, body: #"{"expires":1}"#)
            #expect(withBody.problemCode == "parameter_unknown")
            #expect(try await api.request(.get, "/v1/webhook-endpoints/not-an-id", as: merchant).status == .notFound)
            #expect(try await Self.endpointCount(api, merchant) == 1)
        }
    }

    @Test("Rotating a secret shows the new one once; the old one keeps signing beside it, and a second rotation drops the oldest")
    func rotateSecret() async throws {
        try await APIHarness.run(environment: Self.loopback) { api in
            let merchant = try await api.merchant()
            let created = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body())
            let id = try #require(try created.json()["id"] as? String)
            let original = try #require(try created.json()["secret"] as? String)
            let store = WebhookEndpointStore(client: api.database, logger: APIHarness.logger)
            let endpointID = try #require(UUID(uuidString: id))

            let key = UniqueName.make("rotate")
            let rotated = try await api.request(.post, "/v1/webhook-endpoints/\(id)/rotate-secret", as: merchant, idempotencyKey: key)
            #expect(rotated.status == .ok)
            #expect(rotated.headers[.cacheControl] == "no-store")
            let second = try #require(try rotated.json()["secret"] as? String)
            #expect(second != original)
            #expect(try await store.signingSecrets(endpointID) == [second, original])
            let replay = try await api.request(.post, "/v1/webhook-endpoints/\(id)/rotate-secret", as: merchant, idempotencyKey: key)
            #expect(replay.bytes == rotated.bytes, "a retried rotation answers the same secret and rotates nothing")
            #expect(try await store.signingSecrets(endpointID) == [second, original])

            let third = try #require(try await api.request(.post, "/v1/webhook-endpoints/\(id)/rotate-secret", as: merchant).json()["secret"] as? String)
            #expect(try await store.signingSecrets(endpointID) == [third, second])
            // Past its overlap, the previous secret signs no more.
            try await api.database.query("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = \(endpointID)",
                                         logger: APIHarness.logger)
            #expect(try await store.signingSecrets(endpointID) == [third])
        }
    }

    @Test("Twenty simultaneous creations past the limit of 16: exactly 16 endpoints, the others 409 endpoint_limit_reached")
    func limit() async throws {
        try await APIHarness.run(environment: Self.loopback) { api in
            let merchant = try await api.merchant()
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for index in 0..<20 {
                    group.addTask {
                        // Twenty transactions queued on one lock may outlast a busy machine's deadline: a
                        // 503 is retried with the same key, as a client would, so nothing is created twice.
                        let key = "limit-\(index)"
                        var response = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(), idempotencyKey: key)
                        while response.status == .serviceUnavailable {
                            response = try await api.request(.post, "/v1/webhook-endpoints", as: merchant, body: Self.body(), idempotencyKey: key)
                        }
                        return (response.status, response.problemCode)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0.0 == .created }.count == 16, "\(statuses)")
            #expect(statuses.filter { $0.0 == .conflict && $0.1 == "endpoint_limit_reached" }.count == 4)
            #expect(try await Self.endpointCount(api, merchant) == 16)
        }
    }
}
