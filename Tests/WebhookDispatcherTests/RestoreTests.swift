import Foundation
import PostgresNIO
import SettleDomain
import SettleTestSupport
import Testing

/// The restore drill: a backup you have never restored is a hope. A stack of its own takes
/// orders and is backed up; a second, new stack (a new PostgreSQL cluster, Redis and broker)
/// restores it, rebuilds Kafka's topics from the events, and goes on taking orders.
@Suite("Backup and restore")
struct RestoreTests {
    @Test("A backup restored into a new cluster: every row back, every event republished and skipped by the workers (nothing charged again), and new orders flow with settle verify passing")
    func restoreDrill() async throws {
        let backup = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("backup"))
        defer { try? FileManager.default.removeItem(at: backup) }

        var source: [String: Int] = [:]
        try await ScratchStack.run("restore-source") { stack in
            let loaded = try await stack.settle(["load", "--rate", "20", "--duration", "2s", "--mix", "ok=100", "--follow", "60"])
            #expect(loaded.contains("0 errors"), "\(loaded)")
            let output = try await stack.settle(["backup", "--to", backup.path])
            #expect(output.contains("backed up"), "\(output)")
            source = try await Self.tally(stack)
        }
        #expect((source["orders"] ?? 0) >= 40 && source["charges"] == source["orders"], "every order of the load charged once: \(source)")
        #expect(source["unsettled"] == 0, "\(source)")

        try await ScratchStack.run("restore-target") { stack in
            let restored = try await stack.settle(["restore", "--from", backup.path])
            #expect(restored.contains("events queued in the outbox again"), "\(restored)")
            let url = try #require(stack.environment["DATABASE_URL"].flatMap(URL.init(string:)))
            try await TestDatabase.run(on: url) { client in
                // The relays publish every event again to the new broker...
                try await eventually("the outbox to drain into the new broker", within: .seconds(60)) {
                    try await Self.count(client, "SELECT count(*)::int FROM outbox") == 0
                }
            }
            // ...and the workers read each order's again and skip it: their inbox was restored.
            let workers = [stack.portBase + ServicePorts.worker, stack.portBase + ServicePorts.secondWorker].map(ServiceEndpoint.init(port:))
            let orders = try #require(source["orders"])
            try await eventually("the workers to skip every restored order's event", within: .seconds(90)) {
                var skipped = 0.0
                for worker in workers { skipped += try await worker.metric("settle_worker_duplicates_total") }
                return Int(skipped) >= orders
            }
            let after = try await Self.tally(stack)
            #expect(after == source, "the restored stack holds what was backed up, and charged nothing again")
            // The whole restored history keeps the contract, checked against the new broker.
            let whole = try await stack.settle(["verify", "--settle", "60"])
            #expect(whole.contains("the contract held"), "\(whole)")
            // Every restored event was judged on the new broker, though all are older than it.
            let onKafka = whole.firstMatch(of: /events on Kafka, each order's in order\s+(\d+) checked/).flatMap { Int($0.1) }
            #expect(onKafka == source["events"], "\(whole)")

            // New orders on the restored stack, checked end to end.
            let since = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-1))
            let loaded = try await stack.settle(["load", "--rate", "10", "--duration", "2s", "--mix", "ok=100", "--follow", "60"])
            #expect(loaded.contains("0 errors"), "\(loaded)")
            let reports = try FileManager.default.contentsOfDirectory(at: stack.home.appendingPathComponent("reports"), includingPropertiesForKeys: nil)
            let history = try #require(reports.first { $0.lastPathComponent.hasPrefix("load-") }).appendingPathComponent("history.jsonl")
            let verified = try await stack.settle(["verify", "--history", history.path, "--since", since, "--settle", "60"])
            #expect(verified.contains("the contract held"), "\(verified)")
            let final = try await Self.tally(stack)
            #expect(final["orders"] == orders + 20 && final["charges"] == final["orders"], "\(final)")
        }
    }

    /// Orders, their charges at the simulator, orders without an outcome, events and deliveries.
    static func tally(_ stack: ScratchStack) async throws -> [String: Int] {
        let url = try #require(stack.environment["DATABASE_URL"].flatMap(URL.init(string:)))
        var tally: [String: Int] = [:]
        try await TestDatabase.run(on: url) { client in
            tally["orders"] = try await count(client, "SELECT count(*)::int FROM orders")
            tally["unsettled"] = try await count(client, "SELECT count(*)::int FROM orders WHERE status = 'pending'")
            tally["charges"] = try await count(client, "SELECT count(*)::int FROM processor.charges")
            tally["events"] = try await count(client, "SELECT count(*)::int FROM events")
            tally["deliveries"] = try await count(client, "SELECT count(*)::int FROM webhook_deliveries WHERE status = 'succeeded'")
        }
        return tally
    }

    static func count(_ client: PostgresClient, _ sql: String) async throws -> Int {
        var value = -1
        for try await count in try await client.query(PostgresQuery(unsafeSQL: sql), logger: DispatcherFixture.logger).decode(Int.self) {
            value = count
        }
        return value
    }
}
