import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import SettleDomain
import NIOCore
import NIOHTTP1
import SettleRuntime
import SettleStorage

/// `settle load`: `POST /v1/orders` at a constant arrival rate (open model: each request has an
/// intended send time, and its latency is measured from that instant, so a stall cannot hide
/// behind requests that were never sent, as wrk2 does), or from a fixed number of connections
/// (closed loop). Latencies go into an HdrHistogram. It writes the 201s it saw (the history
/// `settle verify --history` reads), a JSON summary and a self-contained HTML report under
/// `.settle/reports/`.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load-test POST /v1/orders on the running stack: a constant rate (open model) or a number of connections; writes a history, a JSON summary and an HTML report under .settle/reports/."
    )

    @Option(help: "Orders per second to offer (open model). Ignored with --connections.")
    var rate = 100.0

    @Option(help: "Closed loop instead: this many connections, each sending its next order when the last is answered.")
    var connections: Int?

    @Option(name: .customLong("max-in-flight"), help: "Open model: at most this many requests on the wire at once (each on a connection of its own); a request due while all are busy waits, and the wait counts in its latency.")
    var maxInFlight = 256

    @Option(help: "How long to offer load: 30s, 2m or plain seconds.")
    var duration = "30s"

    @Option(help: "Payment methods and their weights, e.g. ok=90,declined=5,flaky=5 (pm_card_ is added).")
    var mix = "ok=90,declined=5,flaky=5"

    @Option(help: "How many merchants to spread the orders over (each made for this run). By default enough that the API's per-merchant rate limit (SETTLE_RATE_LIMIT) does not refuse the offered rate.")
    var merchants: Int?

    @Option(name: .customLong("key-reuse"), help: "Share of requests, 0 to 1, that repeat an earlier request's Idempotency-Key and body (each must be answered with the same order).")
    var keyReuse = 0.0

    @Option(help: "Seconds to follow the orders after the load, until they settle and their webhooks arrive.")
    var follow = 30

    func validate() throws {
        guard rate > 0, rate <= 100_000 else { throw ValidationError("--rate must be above 0 and at most 100000") }
        if let connections, !(1...4_096).contains(connections) { throw ValidationError("--connections must be 1 to 4096") }
        guard (1...4_096).contains(maxInFlight) else { throw ValidationError("--max-in-flight must be 1 to 4096") }
        guard LoadPlan.seconds(duration) != nil else { throw ValidationError("--duration must look like 30s, 2m or 45") }
        guard LoadPlan.methods(mix) != nil else { throw ValidationError("--mix must look like ok=90,declined=5,flaky=5") }
        if let merchants, !(1...1_000).contains(merchants) { throw ValidationError("--merchants must be 1 to 1000") }
        guard (0...1).contains(keyReuse) else { throw ValidationError("--key-reuse must be 0 to 1") }
        guard (0...3_600).contains(follow) else { throw ValidationError("--follow must be 0 to 3600 seconds") }
    }

    func run() async throws {
        let environment = StackEnvironment.load()
        guard let api = environment["SETTLE_API_URL"] else { throw ValidationError("no SETTLE_API_URL: run `settle up` first") }
        let plan = LoadPlan(api: api, rate: connections == nil ? rate : nil, connections: connections,
                            duration: .seconds(LoadPlan.seconds(duration) ?? 30), methods: LoadPlan.methods(mix) ?? [],
                            keyReuse: keyReuse, maxInFlight: maxInFlight)
        let keys = try await LoadMerchants.create(count: merchants ?? LoadMerchants.count(forRate: rate, connections: connections, environment: environment),
                                                  label: "settle load", environment: environment)
        let directory = StackEnvironment.directory(environment: environment).appendingPathComponent("reports")
            .appendingPathComponent(LoadReport.stamp("load", Date()))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let recorder = LoadRecorder(history: directory.appendingPathComponent("history.jsonl"))
        let started = Date()
        try await LoadRunner(plan: plan, merchants: keys, recorder: recorder).run()
        let followed = try await LoadFollower(environment: environment, orders: recorder.accepted, patience: .seconds(follow)).run()
        let report = LoadReport(plan: plan, merchants: keys.count, started: started, results: recorder.results, followed: followed)
        try report.write(to: directory)
        print(report.text)
        print("history, summary.json and report.html in \(directory.path)")
    }
}

/// The merchants a load sends its orders as, each made for the run with a webhook endpoint at
/// the stack's sink (which verifies with the endpoints' secrets), so webhooks are followed too.
enum LoadMerchants {
    /// Enough merchants that each is offered at most 80 % of the API's per-merchant rate limit.
    /// A closed loop's rate is unknown beforehand: one merchant per connection.
    static func count(forRate rate: Double, connections: Int?, environment: [String: String]) -> Int {
        if let connections { return min(1_000, connections) }
        let limit = Double(environment["SETTLE_RATE_LIMIT"].flatMap(Int.init) ?? 100)
        return min(1_000, max(1, Int((rate / (limit * 0.8)).rounded(.up))))
    }

    static func create(count: Int, label: String, environment: [String: String]) async throws -> [(UUID, String)] {
        let sink = environment["SETTLE_SINK_URL"]
        return try await CLIDatabase.with(environment: environment, name: "settle-load") { client, logger in
            let store = MerchantStore(client: client, logger: logger)
            var keys: [(UUID, String)] = []
            for index in 0..<count {
                let created = try await store.create(name: "\(label) \(ISO8601DateFormatter().string(from: Date())) #\(index + 1)")
                if let sink {
                    let endpoint = try NewWebhookEndpoint(json: .object([
                        "url": .string(sink + "/hooks/load"), "enabled_events": .array([.string("payment.succeeded"), .string("payment.failed")]),
                    ]))
                    _ = try await WebhookEndpointStore(client: client, logger: logger)
                        .create(merchant: created.id, endpoint, secret: WebhookSecret.generate(), claim: nil) { _ in (0, []) }
                }
                keys.append((created.id, created.apiKey))
            }
            return keys
        }
    }
}

/// What to offer.
struct LoadPlan: Sendable {
    var api: String
    /// Orders per second (open model), or nil for a closed loop of `connections`.
    var rate: Double?
    var connections: Int?
    var duration: Duration
    var methods: [(method: String, weight: Int)]
    var keyReuse: Double
    /// Open model: requests on the wire at most.
    var maxInFlight = 256

    static func seconds(_ text: String) -> Int? {
        if let plain = Int(text), plain > 0 { return plain }
        if text.hasSuffix("s"), let value = Int(text.dropLast()), value > 0 { return value }
        if text.hasSuffix("m"), let value = Int(text.dropLast()), value > 0 { return value * 60 }
        return nil
    }

    static func methods(_ text: String) -> [(method: String, weight: Int)]? {
        var methods: [(String, Int)] = []
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let weight = Int(pair[1]), weight > 0, !pair[0].isEmpty else { return nil }
            methods.append(("pm_card_" + pair[0], weight))
        }
        return methods.isEmpty ? nil : methods
    }

    func method(_ index: Int) -> String {
        let total = methods.reduce(0) { $0 + $1.weight }
        var slot = (index &* 7919) % max(1, total)
        for entry in methods {
            if slot < entry.weight { return entry.method }
            slot -= entry.weight
        }
        return methods.first?.method ?? "pm_card_ok"
    }
}
