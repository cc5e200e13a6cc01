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
        try await rendersInChromium(report.appendingPathComponent("report.html"), in: home)

        let verified = try await Tool.output(settle, ["verify", "--history", report.appendingPathComponent("history.jsonl").path,
                                                      "--since", since, "--settle", "60"], environment: environment)
        #expect(verified.contains("the contract held"), "\(verified)")
    }

    /// Opens the report in headless Chromium (Debian's `chromium`), with every host unresolvable
    /// so nothing can come from the internet, and asks the laid-out page for each chart's size
    /// and the points of each of its lines.
    private func rendersInChromium(_ report: URL, in directory: URL) async throws {
        let probe = #"""
            <script>
            const rows = [...document.querySelectorAll('svg')].map(svg => {
              const box = svg.getBoundingClientRect();
              const lines = [...svg.querySelectorAll('polyline')].map(line => line.points.numberOfItems);
              return `${svg.id} ${Math.round(box.width)}x${Math.round(box.height)} ${lines.join(',')}`;
            });
            const out = document.createElement('pre');
            out.id = 'rendered';
            out.textContent = rows.join(';');
            document.body.appendChild(out);
            </script>
            """#
        let page = directory.appendingPathComponent("rendered.html")
        let html = try String(contentsOf: report, encoding: .utf8)
        try html.replacingOccurrences(of: "</body>", with: probe + "</body>").write(to: page, atomically: true, encoding: .utf8)
        let chromium = try #require(["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                    "headless Chromium is needed: apt-get install chromium")
        let dom = try await Tool.output(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--user-data-dir=" + directory.appendingPathComponent("chromium").path, "--dump-dom", page.absoluteString,
        ], environment: [:])
        let rendered = try #require(dom.range(of: #"<pre id="rendered">"#).flatMap { start in
            dom[start.upperBound...].range(of: "</pre>").map { String(dom[start.upperBound..<$0.lowerBound]) }
        }, "the probe did not run: \(dom.suffix(2_000))")
        var charts: [String: (width: Int, height: Int, points: [Int])] = [:]
        for row in rendered.split(separator: ";") {
            let fields = row.split(separator: " ")
            guard fields.count == 3 else { continue }
            let size = fields[1].split(separator: "x").compactMap { Int($0) }
            charts[String(fields[0])] = (size.first ?? 0, size.last ?? 0, fields[2].split(separator: ",").compactMap { Int($0) })
        }
        for id in ["latency-over-time", "throughput", "percentiles"] {
            let chart = try #require(charts[id], "\(id) is not in the rendered page: \(rendered)")
            #expect(chart.width >= 300 && chart.height >= 150, "\(id) laid out at \(chart.width)x\(chart.height)")
            #expect(!chart.points.isEmpty && chart.points.allSatisfy { $0 >= 2 }, "\(id)'s lines have points: \(chart.points)")
        }
    }
}
