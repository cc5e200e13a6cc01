import Foundation
import PostgresNIO
import SettleDomain
import SettleRuntime
import SettleTestSupport
import Synchronization
import Testing

/// One order's W3C trace context through the running local stack: the request's `traceparent`
/// → the API's span → the order's outbox row and Kafka message → the worker's span → the
/// payment event's outbox row and Kafka message → the dispatcher's span → the webhook request
/// the sink received.
@Suite("Traces across the stack")
struct TraceTests {
    /// Sampled (01) and not (00): a span nobody records is made on a shorter path in the API
    /// (`RequestSpanMiddleware`), which must carry the caller's trace on all the same.
    @Test("An order sent with a traceparent is charged and its webhook arrives in the same trace, from a span of Settle's own, sampled as the caller asked",
          arguments: ["01", "00"])
    func traceparentReachesTheWebhook(flags: String) async throws {
        let stack = TestStack.shared
        let api = try #require(stack.values["SETTLE_API_URL"], "no local stack: run `settle up`")
        let sink = try #require(stack.values["SETTLE_SINK_URL"])
        // A merchant of this test's own, with an endpoint at the stack's sink (which verifies with
        // the secrets of the endpoints that name it).
        let created = try await Tool.output(TestStack.executable("settle").path, ["merchant", "create", "--name", UniqueName.make("trace"), "--json"],
                                            environment: stack.values)
        let merchant = try #require(try JSONSerialization.jsonObject(with: Data(created.utf8)) as? [String: Any])
        let key = try #require(merchant["api_key"] as? String)
        let headers = ["Authorization": "Bearer \(key)"]
        _ = try await DispatcherFixture.send(.POST, api + "/v1/webhook-endpoints", #"{"url":"\#(sink)/hooks/trace","enabled_events":["payment.succeeded"]}"#,
                                headers: headers, expecting: .created)

        let traceID = Self.randomHex(16), callerSpan = Self.randomHex(8)
        let order = try await DispatcherFixture.send(.POST, api + "/v1/orders", #"{"amount":4200,"currency":"usd","payment_method":"pm_card_ok"}"#,
                                        headers: headers.merging(["traceparent": "00-\(traceID)-\(callerSpan)-\(flags)"]) { $1 },
                                        expecting: .created)
        let orderText = try #require(order["id"] as? String)
        let orderID = try #require(UUID(uuidString: orderText))

        var webhook = ""
        try await TestDatabase.run(on: stack.databaseURL) { client in
            // The worker charged it and recorded payment.succeeded; the dispatcher sent its webhook.
            let event = Mutex<UUID?>(nil)
            try await eventually("the order's payment.succeeded event", within: .seconds(60)) {
                for try await id in try await client.query(
                    "SELECT id FROM events WHERE order_id = \(orderID) AND type = 'payment.succeeded'", logger: DispatcherFixture.logger
                ).decode(UUID.self) { event.withLock { $0 = id } }
                return event.withLock { $0 != nil }
            }
            let eventID = try #require(event.withLock { $0 }).uuidString.lowercased()
            let traceparent = Mutex<String?>(nil)
            try await eventually("the webhook at the sink", within: .seconds(60)) {
                let seen = try await DispatcherFixture.json(sink + "/deliveries?event_id=\(eventID)")["traceparent"] as? String
                traceparent.withLock { $0 = seen }
                return seen != nil
            }
            webhook = try #require(traceparent.withLock { $0 })
        }
        let parts = webhook.split(separator: "-").map(String.init)
        try #require(parts.count == 4, "\(webhook)")
        #expect(parts[0] == "00")
        #expect(parts[1] == traceID, "the webhook is in trace \(parts[1]), not the caller's \(traceID)")
        #expect(parts[2] != callerSpan && parts[2].count == 16 && parts[2] != String(repeating: "0", count: 16),
                "the webhook's parent is the caller's own span, not one of Settle's")
        #expect(parts[3] == flags, "sampled or not, as the caller asked")
    }

    @Test("At the default level, one order's trace id is in the logs of the API, a relay, a worker, the dispatcher and the sink")
    func traceIDInEveryServicesLog() async throws {
        try await ScratchStack.run("trace-logs") { stack in
            let api = try #require(stack.environment["SETTLE_API_URL"])
            let demo = StackEnvironment.parse(try String(contentsOf: stack.home.appendingPathComponent("demo.env"), encoding: .utf8))
            let key = try #require(demo["SETTLE_DEMO_API_KEY"])
            let traceID = Self.randomHex(16)
            _ = try await DispatcherFixture.send(.POST, api + "/v1/orders", #"{"amount":1299,"currency":"usd","payment_method":"pm_card_ok"}"#,
                                    headers: ["Authorization": "Bearer \(key)", "traceparent": "00-\(traceID)-\(Self.randomHex(8))-01"],
                                    expecting: .created)
            let logs = stack.home.appendingPathComponent("logs")
            @Sendable func services() throws -> Set<String> {
                var found: Set<String> = []
                for file in try FileManager.default.contentsOfDirectory(at: logs, includingPropertiesForKeys: nil) where file.pathExtension == "log" {
                    let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                    if text.contains("\"trace_id\":\"\(traceID)\"") || text.contains("-\(traceID)-") {
                        // settle-relay-2.log → settle-relay
                        found.insert(file.deletingPathExtension().lastPathComponent.replacing(/-\d+$/, with: ""))
                    }
                }
                return found
            }
            let expected: Set = ["settle-api", "settle-relay", "settle-worker", "settle-dispatcher", "settle-sink"]
            try await eventually("the trace id in every service's log", within: .seconds(60)) {
                try services().isSuperset(of: expected)
            }
            #expect(try services().isSuperset(of: expected))
            // The API's line names the request, the order and its event beside the trace.
            let apiLog = try String(contentsOf: logs.appendingPathComponent("settle-api.log"), encoding: .utf8)
            let line = try #require(apiLog.split(separator: "\n").first { $0.contains("\"trace_id\":\"\(traceID)\"") })
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["message"] as? String == "order created")
            #expect(object["level"] as? String == "info")
            for key in ["request_id", "order_id", "event_id", "span_id", "merchant_id"] {
                #expect((object[key] as? String)?.isEmpty == false, "\(key) missing from \(line)")
            }
        }
    }

    static func randomHex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 1...255)) }.joined()
    }
}
