import Foundation
import SettleTestSupport
import Testing

/// `settle load` against the local stack's API (its own merchants, so parallel tests are not
/// disturbed), its history checked by `settle verify`.
@Suite("settle load")
struct LoadTests {
    @Test("An open-model run: every intended request sent and answered, repeated keys answered with their first order, a history settle verify accepts, and a report with its charts")
    func openModelRun() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("load-home"))
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let stack = TestStack.shared.values
        var environment = ["SETTLE_HOME": home.path]
        for name in ["DATABASE_URL", "SETTLE_API_URL", "SETTLE_SINK_URL", "KAFKA_BROKERS", "SETTLE_BROKER_ADMIN_URL"] {
            environment[name] = stack[name]
        }
        let since = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-1))
        let settle = TestStack.executable("settle").path
        let output = try await Tool.output(settle, ["load", "--rate", "40", "--duration", "2s", "--merchants", "2", "--key-reuse", "0.25",
                                                    "--follow", "60"], environment: environment)
        let reports = try FileManager.default.contentsOfDirectory(at: home.appendingPathComponent("reports"), includingPropertiesForKeys: nil)
        let report = try #require(reports.first, "no report directory: \(output)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("summary.json"))) as? [String: Any])
        #expect(summary["requests"] as? Int == 80, "40/s for 2 s is 80 intended requests: \(summary)")
        #expect((summary["statuses"] as? [String: Int])?["201"] == 80, "\(summary)")
        let repeated = try #require(summary["repeated_keys"] as? Int)
        #expect(repeated > 0)
        #expect(summary["keys_with_two_orders"] as? Int == 0)
        #expect(summary["settled"] as? Int == 80 - repeated, "every order settled: \(summary)")
        #expect(summary["webhooks_delivered"] as? Int == 80 - repeated, "every order's webhook reached the sink: \(summary)")
        let history = try String(contentsOf: report.appendingPathComponent("history.jsonl"), encoding: .utf8)
        #expect(history.split(separator: "\n").count == 80 - repeated)

        let html = try String(contentsOf: report.appendingPathComponent("report.html"), encoding: .utf8)
        for chart in ["latency-over-time", "throughput", "percentiles"] {
            #expect(html.contains(#"<svg id="\#(chart)""#), "\(chart)")
        }
        #expect(html.components(separatedBy: "<polyline").count - 1 >= 5, "every series drawn")

        let verified = try await Tool.output(settle, ["verify", "--history", report.appendingPathComponent("history.jsonl").path,
                                                      "--since", since, "--settle", "60"], environment: environment)
        #expect(verified.contains("the contract held"), "\(verified)")
    }
}
