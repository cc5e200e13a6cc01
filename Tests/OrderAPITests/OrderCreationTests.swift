import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SettleDomain
import SettleTestSupport
import Testing
@testable import OrderAPI

@Suite("Creating and reading orders")
struct OrderCreationTests {
    @Test("An order, its event and its outbox row commit together; GET, list and events show it")
    func createAndRead() async throws {
        // A database of its own: the stack's relays would publish (and delete) the outbox row.
        try await TestDatabase.with { _, url in try await Self.createAndRead(databaseURL: url) }
    }

    static func createAndRead(databaseURL: URL) async throws {
        try await APIHarness.run(databaseURL: databaseURL) { api in
            let merchant = try await api.merchant()
            let response = try await api.request(.post, "/v1/orders", as: merchant,
                                                 body: #"{"amount":1299,"currency":"EUR","payment_method":"pm_card_ok","description":"Two books","metadata":{"cart":"42"}}"#)
            #expect(response.status == .created)
            let order = try response.json()
            let id = try #require(order["id"] as? String)
            #expect(order["object"] as? String == "order")
            #expect(order["status"] as? String == "pending")
            #expect(order["amount"] as? Int == 1299)
            #expect(order["currency"] as? String == "eur")
            #expect((order["metadata"] as? [String: String]) == ["cart": "42"])
            #expect(response.headers[HTTPField.Name("RateLimit-Limit")!] == "200")

            let fetched = try await api.request(.get, "/v1/orders/\(id)", as: merchant)
            #expect(fetched.status == .ok)
            #expect(fetched.bytes == response.bytes, "GET shows the order as created")
            let cached = try await api.request(.get, "/v1/orders/\(id)", as: merchant)
            #expect(cached.bytes == response.bytes, "and so does the cached copy")

            let events = try await api.request(.get, "/v1/events", as: merchant).json()
            let data = try #require(events["data"] as? [[String: Any]])
            #expect(data.count == 1)
            #expect(data.first?["type"] as? String == "order.created")
            #expect(data.first?["order_id"] as? String == id)

            let rows = try await api.database.query("""
                SELECT topic, key, headers::jsonb->>'event-id', payload::jsonb->>'type', (payload::jsonb->'data'->'object'->>'id')
                FROM outbox WHERE key = \(id)
                """, logger: APIHarness.logger)
            var outbox: [(String, String, String, String, String)] = []
            for try await row in rows.decode((String, String, String, String, String).self) { outbox.append(row) }
            #expect(outbox.count == 1)
            #expect(outbox.first?.0 == "orders.v1")
            #expect(outbox.first?.2 == data.first?["id"] as? String, "the outbox row carries the event's id")
            #expect(outbox.first?.3 == "order.created")
            #expect(outbox.first?.4 == id)

            // The Kafka message: the envelope with exactly its six fields, the order as answered
            // in data.object, the time in UTC with milliseconds, and a W3C traceparent header.
            let body = String(decoding: response.bytes, as: UTF8.self)
            let envelope = try await api.database.query("""
                SELECT (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(o.payload) AS k),
                       o.payload->'data'->'object' = \(body)::jsonb, o.payload->>'merchant_id' = \(merchant.id.lowercased),
                       o.payload->>'occurred_at', o.headers->>'traceparent',
                       r.description, r.metadata = '{"cart":"42"}'::jsonb, e.data = o.payload->'data',
                       o.payload = settle_event_envelope(e.id, e.type, e.merchant_id, e.created_at, e.data),
                       (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(o.headers) AS k) || ' ' || (o.headers->>'event-id' = e.id::text)::text
                FROM (SELECT key, event_id, payload::jsonb AS payload, headers::jsonb AS headers FROM outbox) AS o
                JOIN orders AS r ON r.id::text = o.key JOIN events AS e ON e.id = o.event_id
                WHERE o.key = \(id)
                """, logger: APIHarness.logger)
            var checked = false
            for try await (keys, sameOrder, sameMerchant, occurredAt, traceparent, description, sameMetadata, sameData, sameEnvelope, headerKeys)
                in envelope.decode((String, Bool, Bool, String, String, String?, Bool, Bool, Bool, String).self) {
                checked = true
                #expect(keys == "data,id,merchant_id,occurred_at,type,version")
                #expect(sameOrder, "data.object is the order as the API answered it")
                #expect(sameMerchant)
                #expect(occurredAt.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(occurredAt)")
                #expect(traceparent.wholeMatch(of: /00-[0-9a-f]{32}-[0-9a-f]{16}-01/) != nil, "\(traceparent)")
                #expect(description == "Two books")
                #expect(sameMetadata)
                #expect(sameData, "the event row and the message carry the same data")
                #expect(sameEnvelope, "the envelope is the one settle_event_envelope makes of the event row, time included")
                #expect(headerKeys == "event-id,event-type,traceparent true")
            }
            #expect(checked)

            let plain = try await api.request(.post, "/v1/orders", as: merchant,
                                              body: #"{"amount":500,"currency":"usd","payment_method":"pm_card_ok"}"#)
            let plainID = try #require(try plain.json()["id"] as? String)
            let stored = try await api.database.query("SELECT description IS NULL, metadata = '{}'::jsonb FROM orders WHERE id = \(UUID(uuidString: plainID)!)",
                                                      logger: APIHarness.logger)
            var row: (noDescription: Bool, noMetadata: Bool)?
            for try await (noDescription, noMetadata) in stored.decode((Bool, Bool).self) { row = (noDescription, noMetadata) }
            let plainRow = try #require(row, "the order answered 201 is in the database")
            #expect(plainRow.noDescription && plainRow.noMetadata, "an order without description or metadata stores NULL and {}")
        }
    }

    @Test("Bad input is a 400/413/415 problem with a stable code and param, and stores nothing", arguments: [
        (#"{"currency":"usd","payment_method":"pm_card_ok"}"#, "parameter_missing", "amount"),
        (#"{"amount":0,"currency":"usd","payment_method":"pm_card_ok"}"#, "amount_too_small", "amount"),
        (#"{"amount":100000000,"currency":"usd","payment_method":"pm_card_ok"}"#, "amount_too_large", "amount"),
        (#"{"amount":10.5,"currency":"usd","payment_method":"pm_card_ok"}"#, "parameter_invalid", "amount"),
        (#"{"amount":"100","currency":"usd","payment_method":"pm_card_ok"}"#, "parameter_invalid", "amount"),
        (#"{"amount":true,"currency":"usd","payment_method":"pm_card_ok"}"#, "parameter_invalid", "amount"),
        (#"{"amount":100,"currency":"usdx","payment_method":"pm_card_ok"}"#, "parameter_invalid", "currency"),
        (#"{"amount":100,"currency":"xyz","payment_method":"pm_card_ok"}"#, "parameter_invalid", "currency"),
        (#"{"amount":100,"payment_method":"pm_card_ok"}"#, "parameter_missing", "currency"),
        (#"{"amount":100,"currency":"usd","payment_method":"pm_card_nope"}"#, "parameter_invalid", "payment_method"),
        (#"{"amount":100,"currency":"usd"}"#, "parameter_missing", "payment_method"),
        (#"{"amount":100,"currency":"usd","payment_method":"pm_card_ok","description":"\#(String(repeating: "d", count: 1001))"}"#, "parameter_invalid", "description"),
        (#"{"amount":100,"currency":"usd","payment_method":"pm_card_ok","metadata":{\#((0..<21).map { "\"k\($0)\":\"v\"" }.joined(separator: ","))}}"#, "parameter_invalid", "metadata"),
        (#"{"amount":100,"currency":"usd","payment_method":"pm_card_ok","metadata":{"\#(String(repeating: "k", count: 41))":"v"}}"#, "parameter_invalid", "metadata"),
        (#"{"amount":100,"currency":"usd","payment_method":"pm_card_ok","metadata":{"k":"\#(String(repeating: "v", count: 501))"}}"#, "parameter_invalid", "metadata[k]"),
        (#"{"amount":100,"currency":"usd","payment_method":"pm_card_ok","metadata":{"k":1}}"#, "parameter_invalid", "metadata[k]"),
        (#"{"amount":100,"currency":"usd","payment_method":"pm_card_ok","customer":"c_1"}"#, "parameter_unknown", "customer"),
        (#"[1,2]"#, "invalid_body", nil),
        (#"{"amount":100,"#, "invalid_json", nil),
    ] as [(String, String, String?)])
    func badInput(body: String, code: String, param: String?) async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let response = try await api.request(.post, "/v1/orders", as: merchant, body: body, idempotencyKey: UniqueName.make("key"))
            #expect(response.status == .badRequest)
            #expect(response.problemCode == code)
            #expect(response.problemParam == param)
            #expect(try await api.orderCount(merchant) == 0)
            let keys = try await api.database.query("SELECT count(*) FROM idempotency_keys WHERE merchant_id = \(merchant.id)", logger: APIHarness.logger)
            for try await count in keys.decode(Int.self) { #expect(count == 0, "a request that failed validation stores no idempotency key") }
        }
    }

    @Test("Wrong content type is 415, a body over 64 KiB is 413, neither stores anything")
    func contentTypeAndSize() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let text = try await api.request(.post, "/v1/orders", as: merchant, body: "amount=1", contentType: "application/x-www-form-urlencoded")
            #expect(text.status == .unsupportedMediaType)
            #expect(text.problemCode == "unsupported_media_type")
            // The media type is compared without its parameters, spaces or case.
            let order = #"{"amount":100,"currency":"usd","payment_method":"pm_card_ok"}"#
            for contentType in ["Application/JSON; charset=utf-8", " application/json ", "application/json;"] {
                let accepted = try await api.request(.post, "/v1/orders", as: merchant, body: order, contentType: contentType)
                #expect(accepted.status == .created, "\(contentType)")
            }
            for contentType in ["application/jsonx", "text/json", ""] {
                let refused = try await api.request(.post, "/v1/orders", as: merchant, body: order, contentType: contentType)
                #expect(refused.status == .unsupportedMediaType, "\(contentType)")
            }
            let big = #"{"amount":100,"currency":"usd","payment_method":"pm_card_ok","description":"\#(String(repeating: "x", count: 70_000))"}"#
            let large = try await api.request(.post, "/v1/orders", as: merchant, body: big)
            #expect(large.status == .contentTooLarge)
            #expect(large.problemCode == "body_too_large")
            #expect(try await api.orderCount(merchant) == 3, "only the three JSON orders")
        }
    }

    @Test("No key or a wrong key is 401; another merchant's order is 404; lists and events never mix merchants")
    func authenticationAndScope() async throws {
        try await APIHarness.run { api in
            let alice = try await api.merchant()
            let bob = try await api.merchant()
            let missing = try await api.request(.get, "/v1/orders", as: nil)
            #expect(missing.status == .unauthorized)
            #expect(missing.problemCode == "api_key_invalid")
            let wrong = try await api.request(.get, "/v1/orders", as: APIHarness.Merchant(id: alice.id, key: APIKey.generate()))
            #expect(wrong.status == .unauthorized)

            let order = try await api.createOrder(alice)
            let id = try #require(order["id"] as? String)
            #expect(try await api.request(.get, "/v1/orders/\(id)", as: bob).status == .notFound)
            #expect(try await api.request(.get, "/v1/orders/\(id)", as: bob).problemCode == "resource_missing")
            #expect(try await api.request(.post, "/v1/orders/\(id)/refund", as: bob).status == .notFound)
            let bobsList = try await api.request(.get, "/v1/orders", as: bob).json()
            #expect((bobsList["data"] as? [Any])?.isEmpty == true)
            let bobsEvents = try await api.request(.get, "/v1/events", as: bob).json()
            #expect((bobsEvents["data"] as? [Any])?.isEmpty == true)
            let bobsPage = try await api.request(.get, "/v1/orders?starting_after=\(id)", as: bob).json()
            #expect((bobsPage["data"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("Unknown routes, wrong methods (405 with Allow) and malformed ids are problem documents, never 500")
    func unknownRoutes() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let route = try await api.request(.get, "/v1/nothing-here", as: merchant)
            #expect(route.status == .notFound)
            #expect(route.problemCode == "route_not_found")
            for (method, path, allowed) in [(HTTPRequest.Method.delete, "/v1/orders", "GET, POST"),
                                             (.put, "/v1/orders/\(UUID().lowercased)", "GET"),
                                             (.get, "/v1/orders/\(UUID().lowercased)/refund", "POST")] {
                let wrong = try await api.request(method, path, as: merchant)
                #expect(wrong.status == .methodNotAllowed, "\(method) \(path)")
                #expect(wrong.problemCode == "method_not_allowed")
                #expect(wrong.headers[.allow] == allowed)
            }
            let id = try await api.request(.get, "/v1/orders/not-a-uuid", as: merchant)
            #expect(id.status == .notFound)
            #expect(id.problemCode == "resource_missing")
        }
    }
}
