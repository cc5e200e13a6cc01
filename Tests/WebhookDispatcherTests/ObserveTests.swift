import Foundation
import SettleRuntime
import SettleTestSupport
import Testing

/// `settle up --observe` on a local stack of its own (a scratch home on free ports): Debian's
/// Prometheus scraping every service with deploy/prometheus/rules.yml loaded.
@Suite("settle up --observe")
struct ObserveTests {
    @Test("A dead letter on a stack with --observe: every service scraped, and SettleDeadLetters seen firing through Prometheus' own API and UI")
    func deadLetterAlertFires() async throws {
        let down = try await ScratchStack.run("observe-home", up: ["--observe"]) { stack in
            let prometheus = "http://127.0.0.1:\(stack.portBase + 98)"
            #expect(stack.upOutput.contains(prometheus + "/classic/alerts"), "\(stack.upOutput)")
            let demo = StackEnvironment.parse(try String(contentsOf: stack.home.appendingPathComponent("demo.env"), encoding: .utf8))
            let api = try #require(stack.environment["SETTLE_API_URL"])
            let processor = try #require(stack.environment["SETTLE_PROCESSOR_URL"])
            let key = try #require(demo["SETTLE_DEMO_API_KEY"])

            // Every service of the stack but the sink (it has no /metrics) is a target, and each is scraped.
            try await eventually("every target to be up", within: .seconds(60)) {
                let targets = try await DispatcherFixture.json(prometheus + "/api/v1/targets")
                let active = ((targets["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
                return active.count == 7 && active.allSatisfy { $0["health"] as? String == "up" }
            }
            #expect(try await Self.firing(prometheus).isEmpty, "nothing fires on a healthy stack")

            // The simulator answers garbage, so the worker dead-letters the order at once.
            try await DispatcherFixture.send(.POST, processor + "/faults", #"{"garbage_rate":1}"#)
            try await DispatcherFixture.send(.POST, api + "/v1/orders", #"{"amount":1299,"currency":"usd","payment_method":"pm_card_ok"}"#,
                                             headers: ["Authorization": "Bearer \(key)", "Idempotency-Key": UniqueName.make("observe")],
                                             expecting: .created)
            // The rule waits a minute before it fires, and Prometheus evaluates every 5 s.
            try await eventually("SettleDeadLetters to fire", within: .seconds(180)) {
                try await Self.firing(prometheus).contains("SettleDeadLetters")
            }
            // The alerts page `settle up` names (Debian's package serves Prometheus' classic UI).
            let page = try await ServiceEndpoint.get(prometheus + "/classic/alerts")
            #expect(page.status == 200)
            #expect(page.body.contains("<b>SettleDeadLetters</b> (1 active)"), "\(page.body.prefix(2_000))")
            let status = try await stack.settle(["status"])
            #expect(status.contains("Prometheus") && status.contains("alert(s) firing"), "\(status)")
        }
        #expect(down.contains("stopped Prometheus"), "\(down)")
    }

    /// The names of the alerts Prometheus reports firing.
    static func firing(_ prometheus: String) async throws -> [String] {
        let alerts = try await DispatcherFixture.json(prometheus + "/api/v1/alerts")
        let list = ((alerts["data"] as? [String: Any])?["alerts"] as? [[String: Any]]) ?? []
        return list.filter { $0["state"] as? String == "firing" }.compactMap { ($0["labels"] as? [String: Any])?["alertname"] as? String }
    }
}
