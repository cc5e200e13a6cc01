import AsyncHTTPClient
import Foundation
import Histogram
import PostgresNIO
import SettleRuntime
import SettleStorage

/// After a load: follows its accepted orders until they settle (a `payment.*` event) and their
/// webhooks reach the stack's sink, and measures the time from each order's creation.
struct LoadFollower: Sendable {
    let environment: [String: String]
    let orders: [LoadRecorder.Accepted]
    let patience: Duration

    struct Followed: Sendable {
        var settled = 0
        var settledSpan: Double = 0
        var settleLatency = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var delivered = 0
        var deliveredSpan: Double = 0
        var webhookLatency = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    }

    func run() async throws -> Followed {
        let ids = orders.compactMap { UUID(uuidString: $0.orderID) }
        guard !ids.isEmpty else { return Followed() }
        let end = ContinuousClock.now + patience
        let sink = environment["SETTLE_SINK_URL"]
        // One client for the whole wait: each poll is a query, not a new connection.
        let (rows, arrivals) = try await CLIDatabase.with(environment: environment, name: "settle-load") { client, logger in
            while true {
                var rows: [(created: Date, event: UUID, settled: Date)] = []
                for try await row in try await client.query("""
                    SELECT o.created_at, e.id, e.created_at FROM orders o
                    JOIN events e ON e.order_id = o.id AND e.type IN ('payment.succeeded', 'payment.failed')
                    WHERE o.id = ANY(\(ids))
                    """, logger: logger).decode((Date, UUID, Date).self) { rows.append(row) }
                let arrivals = await Self.arrivals(sink)
                let delivered = rows.filter { arrivals[$0.event.lowercased] != nil }.count
                if (rows.count >= ids.count && delivered >= rows.count) || ContinuousClock.now >= end { return (rows, arrivals) }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        var followed = Followed()
        let firstCreated = rows.map(\.created).min() ?? Date()
        for row in rows {
            followed.settled += 1
            _ = followed.settleLatency.record(UInt64(max(1, row.settled.timeIntervalSince(row.created) * 1e6)))
            if let arrived = arrivals[row.event.lowercased] {
                followed.delivered += 1
                _ = followed.webhookLatency.record(UInt64(max(1, arrived - row.created.timeIntervalSince1970 * 1e6)))
            }
        }
        followed.settledSpan = (rows.map(\.settled).max() ?? firstCreated).timeIntervalSince(firstCreated)
        let lastArrival = rows.compactMap { arrivals[$0.event.lowercased] }.max().map { $0 / 1e6 } ?? firstCreated.timeIntervalSince1970
        followed.deliveredSpan = lastArrival - firstCreated.timeIntervalSince1970
        return followed
    }

    /// The sink's first arrival of each webhook-id, in Unix microseconds.
    static func arrivals(_ sink: String?) async -> [String: Double] {
        guard let sink, let text = await CLIHTTP.get(sink + "/arrivals") else { return [:] }
        var arrivals: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "\t")
            if parts.count == 2, let micros = Double(parts[1]) { arrivals[String(parts[0])] = micros }
        }
        return arrivals
    }
}

/// A load's figures: printed, as `summary.json`, and as a self-contained `report.html` whose
/// charts are inline SVG (no internet needed).
struct LoadReport: Sendable {
    let plan: LoadPlan
    let merchants: Int
    let started: Date
    let results: LoadRecorder.Results
    let followed: LoadFollower.Followed

    /// From the start until the last 201 arrived (at least the load's duration): an overloaded
    /// stack answers past the end, and its rate is what it accepted over that span.
    var answeringSeconds: Double {
        max(seconds, Double((results.acceptedBySecond.keys.max() ?? 0) + 1))
    }

    /// " (timeout: 12, 503: 3)" when there were errors.
    var errorBreakdown: String {
        let parts = results.statuses.filter { $0.key != 201 }.sorted { $0.key < $1.key }.map { "\(Self.statusName($0.key)): \($0.value)" }
        return parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")"
    }

    static func statusName(_ status: Int) -> String {
        switch status {
        case LoadRecorder.timedOut: "timeout"
        case LoadRecorder.connectionError: "connection_error"
        default: String(status)
        }
    }

    /// A report directory's name: `<kind>-<UTC time>`.
    static func stamp(_ kind: String, _ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return kind + "-" + formatter.string(from: date)
    }

    var seconds: Double { Double(plan.duration.components.seconds) }
    var accepted: Int { results.statuses[201, default: 0] }
    var errors: Int { results.statuses.filter { $0.key != 201 }.values.reduce(0, +) }
    var keyViolations: Int { results.ordersByKey.values.filter { $0.count > 1 }.count }

    func ms(_ histogram: Histogram<UInt64>, _ percentile: Double) -> Double {
        histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    struct Summary: Encodable {
        var started: String
        var mode: String
        var offeredPerSecond: Double?
        var connections: Int?
        var durationSeconds: Double
        var merchants: Int
        var requests: UInt64
        var acceptedPerSecond: Double
        var statuses: [String: Int]
        var errors: Int
        var repeatedKeys: Int
        var keysWithTwoOrders: Int
        var latencyMilliseconds: [String: Double]
        var settled: Int
        var settledPerSecond: Double
        var settleLatencyMilliseconds: [String: Double]
        var webhooksDelivered: Int
        var webhooksPerSecond: Double
        var webhookLatencyMilliseconds: [String: Double]

        enum CodingKeys: String, CodingKey {
            case started, mode, connections, merchants, requests, statuses, errors, settled
            case offeredPerSecond = "offered_per_s", durationSeconds = "duration_s", acceptedPerSecond = "accepted_per_s"
            case repeatedKeys = "repeated_keys", keysWithTwoOrders = "keys_with_two_orders", latencyMilliseconds = "latency_ms"
            case settledPerSecond = "settled_per_s", settleLatencyMilliseconds = "created_to_settled_ms"
            case webhooksDelivered = "webhooks_delivered", webhooksPerSecond = "webhooks_per_s"
            case webhookLatencyMilliseconds = "created_to_webhook_ms"
        }
    }

    func percentiles(_ histogram: Histogram<UInt64>) -> [String: Double] {
        ["p50": ms(histogram, 50), "p90": ms(histogram, 90), "p99": ms(histogram, 99), "p99.9": ms(histogram, 99.9),
         "max": histogram.totalCount == 0 ? 0 : Double(histogram.max) / 1000]
    }

    var summary: Summary {
        Summary(started: ISO8601DateFormatter().string(from: started), mode: plan.rate == nil ? "closed" : "open",
                offeredPerSecond: plan.rate, connections: plan.connections, durationSeconds: seconds, merchants: merchants,
                requests: results.histogram.totalCount, acceptedPerSecond: Double(accepted) / answeringSeconds,
                statuses: Dictionary(uniqueKeysWithValues: results.statuses.map { (Self.statusName($0.key), $0.value) }),
                errors: errors, repeatedKeys: results.repeated, keysWithTwoOrders: keyViolations,
                latencyMilliseconds: percentiles(results.histogram), settled: followed.settled,
                settledPerSecond: followed.settledSpan > 0 ? Double(followed.settled) / followed.settledSpan : 0,
                settleLatencyMilliseconds: percentiles(followed.settleLatency), webhooksDelivered: followed.delivered,
                webhooksPerSecond: followed.deliveredSpan > 0 ? Double(followed.delivered) / followed.deliveredSpan : 0,
                webhookLatencyMilliseconds: percentiles(followed.webhookLatency))
    }

    var text: String {
        let s = summary
        func line(_ values: [String: Double]) -> String {
            String(format: "p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f ms", values["p50"] ?? 0, values["p90"] ?? 0,
                   values["p99"] ?? 0, values["p99.9"] ?? 0, values["max"] ?? 0)
        }
        let offered = plan.rate.map { String(format: "%.0f/s offered (open model)", $0) } ?? "\(plan.connections ?? 0) connections (closed loop)"
        return """
            \(offered) for \(Int(seconds)) s over \(merchants) merchant(s): \(s.requests) requests, \(accepted) accepted \
            (\(String(format: "%.1f", s.acceptedPerSecond))/s), \(errors) errors\(errorBreakdown), \(s.repeatedKeys) repeated keys, \
            \(s.keysWithTwoOrders) keys with two orders
              answered          \(line(s.latencyMilliseconds))
              created→settled   \(s.settled) settled (\(String(format: "%.1f", s.settledPerSecond))/s)  \(line(s.settleLatencyMilliseconds))
              created→webhook   \(s.webhooksDelivered) delivered (\(String(format: "%.1f", s.webhooksPerSecond))/s)  \(line(s.webhookLatencyMilliseconds))
            """
    }

    func write(to directory: URL) throws {
        var history = ""
        for answer in results.accepted {
            history += #"{"key":"\#(answer.key)","merchant":"\#(answer.merchant.uuidString.lowercased())","order_id":"\#(answer.orderID)","status":201}"# + "\n"
        }
        try Data(history.utf8).write(to: directory.appendingPathComponent("history.jsonl"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: directory.appendingPathComponent("summary.json"))
        try Data(html.utf8).write(to: directory.appendingPathComponent("report.html"))
    }

    // MARK: the HTML report

    var html: String {
        let seconds = results.seconds.keys.sorted()
        let p50 = seconds.map { (Double($0), ms(results.seconds[$0]!.histogram, 50)) }
        let p99 = seconds.map { (Double($0), ms(results.seconds[$0]!.histogram, 99)) }
        let maxes = seconds.map { (Double($0), Double(results.seconds[$0]!.histogram.max) / 1000) }
        let rate = results.acceptedBySecond.keys.sorted().map { (Double($0), Double(results.acceptedBySecond[$0]!)) }
        // Percentiles on the usual HdrHistogram axis: 1 / (1 - p), so 90, 99, 99.9 are evenly spaced.
        let marks = [0.0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99]
        let distribution = marks.map { (log10(1 / (1 - $0 / 100)), ms(results.histogram, $0)) }
        let s = summary
        let rows = [
            ("offered", plan.rate.map { String(format: "%.0f orders/s (open model)", $0) } ?? "\(plan.connections ?? 0) connections (closed loop)"),
            ("accepted", String(format: "%d (%.1f/s over the %.0f s until the last arrived)", accepted, s.acceptedPerSecond, answeringSeconds)),
            ("errors", "\(errors) \(s.statuses.filter { $0.key != "201" }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))"),
            ("answer latency", String(format: "p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms", s.latencyMilliseconds["p50"] ?? 0,
                                      s.latencyMilliseconds["p99"] ?? 0, s.latencyMilliseconds["p99.9"] ?? 0, s.latencyMilliseconds["max"] ?? 0)),
            ("settled (while followed)", String(format: "%d (%.1f/s), created→settled p50 %.0f ms, p99 %.0f ms", s.settled, s.settledPerSecond,
                               s.settleLatencyMilliseconds["p50"] ?? 0, s.settleLatencyMilliseconds["p99"] ?? 0)),
            ("webhooks (while followed)", String(format: "%d (%.1f/s), created→webhook p50 %.0f ms, p99 %.0f ms", s.webhooksDelivered, s.webhooksPerSecond,
                                s.webhookLatencyMilliseconds["p50"] ?? 0, s.webhookLatencyMilliseconds["p99"] ?? 0)),
            ("repeated keys", "\(s.repeatedKeys), of which answered with another order: \(s.keysWithTwoOrders)"),
        ]
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>settle load \(s.started)</title>
            <style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td{padding:.2em 1em .2em 0}
            svg{background:#fafafa;border:1px solid #ddd;margin:1em 0}.p50{stroke:#1f77b4}.p99{stroke:#d62728}.max{stroke:#999}.rate{stroke:#2ca02c}.latency{stroke:#9467bd}
            polyline{fill:none;stroke-width:2}text{font-size:11px}.legend{stroke:none;font-weight:bold}
            .legend.p50{fill:#1f77b4}.legend.p99{fill:#d62728}.legend.max{fill:#999}.legend.rate{fill:#2ca02c}.legend.latency{fill:#9467bd}</style></head><body>
            <h1>settle load, \(s.started)</h1>
            <table>\(rows.map { "<tr><td>\($0.0)</td><td>\(Self.escape($0.1))</td></tr>" }.joined())</table>
            <h2>Answer latency over time (ms, from each request's intended send time)</h2>
            \(Self.chart(id: "latency-over-time", series: [("p50", p50), ("p99", p99), ("max", maxes)], xLabel: "second", logX: false))
            <h2>Orders accepted per second (by when the 201 arrived)</h2>
            \(Self.chart(id: "throughput", series: [("rate", rate)], xLabel: "second", logX: false))
            <h2>Latency by percentile (ms)</h2>
            \(Self.chart(id: "percentiles", series: [("latency", distribution)], xLabel: "percentile", logX: true, xTicks: marks))
            </body></html>
            """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static let legend = ["p50": "p50", "p99": "p99", "max": "max", "rate": "accepted/s", "latency": "answer latency"]

    /// A line chart in SVG: each series a polyline in its CSS class, axes with a few labels.
    static func chart(id: String, series: [(String, [(Double, Double)])], xLabel: String, logX: Bool, xTicks: [Double] = []) -> String {
        let (width, height, left, bottom) = (720.0, 260.0, 60.0, 30.0)
        let points = series.flatMap(\.1)
        let maxX = max(points.map(\.0).max() ?? 1, 1)
        let maxY = max(points.map(\.1).max() ?? 1, 0.001) * 1.1
        func x(_ value: Double) -> Double { left + value / maxX * (width - left - 10) }
        // The top 24 px hold the legend.
        func y(_ value: Double) -> Double { height - bottom - value / maxY * (height - bottom - 24) }
        var svg = #"<svg id="\#(id)" xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))">"#
        svg += #"<line x1="\#(left)" y1="\#(y(0))" x2="\#(width - 10)" y2="\#(y(0))" stroke="black"/><line x1="\#(left)" y1="24" x2="\#(left)" y2="\#(y(0))" stroke="black"/>"#
        for fraction in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let value = maxY / 1.1 * fraction
            svg += #"<text x="4" y="\#(y(value) + 4)">\#(String(format: value < 10 ? "%.1f" : "%.0f", value))</text>"#
        }
        let ticks = logX ? xTicks.map { (log10(1 / (1 - $0 / 100)), String(format: "%g", $0)) }
            : stride(from: 0.0, through: maxX, by: max(1, (maxX / 6).rounded())).map { ($0, String(format: "%.0f", $0)) }
        for (value, label) in ticks {
            svg += #"<text x="\#(min(x(value) - 8, width - 8 - 7 * Double(label.count)))" y="\#(height - 12)">\#(label)</text>"#
        }
        // The legend, above the plot on the right: each series' name in its colour.
        var right = width - 10
        for (name, _) in series.reversed() {
            let label = Self.legend[name] ?? name
            right -= 7 * Double(label.count) + 12
            svg += #"<text class="legend \#(name)" x="\#(right)" y="16">\#(label)</text>"#
        }
        svg += #"<text x="\#(width / 2)" y="\#(height - 1)">\#(xLabel)</text>"#
        for (name, values) in series where !values.isEmpty {
            let list = values.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            svg += #"<polyline class="\#(name)" points="\#(list)"><title>\#(name)</title></polyline>"#
        }
        return svg + "</svg>"
    }
}
