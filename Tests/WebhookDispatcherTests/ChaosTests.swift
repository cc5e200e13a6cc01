import Foundation
import SettleRuntime
import SettleTestSupport
import Testing

/// `settle chaos` on a local stack of its own (`settle up` in a scratch home on free ports), so
/// its kills disturb no other test.
@Suite("settle chaos")
struct ChaosTests {
    static let services = ["settle-relay-1", "settle-relay-2", "settle-worker-1", "settle-worker-2", "settle-dispatcher"]

    @Test("The same seed gives the same schedule; another seed another one")
    func seededSchedule() async throws {
        let settle = TestStack.executable("settle").path
        let arguments = ["chaos", "--orders", "500", "--kills", "6", "--brokers", "--redis", "--postgres", "--dry-run", "--seed"]
        // --brokers asks the broker admin how many brokers there are: the shared stack's.
        let environment = ["SETTLE_BROKER_ADMIN_URL": TestStack.shared.brokerAdminURL]
        let first = try await Tool.output(settle, arguments + ["7"], environment: environment)
        let again = try await Tool.output(settle, arguments + ["7"], environment: environment)
        let other = try await Tool.output(settle, arguments + ["8"], environment: environment)
        #expect(first == again)
        #expect(first != other)
        #expect(first.components(separatedBy: "SIGKILL settle-").count - 1 == 6, "\(first)")
        #expect(first.components(separatedBy: "down for").count - 1 == 2, "\(first)")
        #expect(first.contains("SIGKILL Redis") && first.contains("PostgreSQL immediate shutdown"), "\(first)")
    }

    @Test("On a stack of its own: first each relay, each worker and the dispatcher SIGKILLed during a load with the simulator's faults on, then two broker outages, a Redis SIGKILL and a PostgreSQL immediate shutdown during another; each run's disruptions undone, every service back, and settle verify's checks pass")
    func chaosRuns() async throws {
        try await ScratchStack.run("chaos-home") { stack in
            let reports = stack.home.appendingPathComponent("reports")
            func newestReport() throws -> URL {
                try #require(try FileManager.default.contentsOfDirectory(at: reports, includingPropertiesForKeys: nil)
                    .filter { $0.lastPathComponent.hasPrefix("chaos-") }.max { $0.lastPathComponent < $1.lastPathComponent })
            }

            // Kills only, with work in flight at the processor (100 ms a call): a worker that
            // committed an offset before its outcome was recorded loses orders here.
            let kills = try await stack.settle([
                "chaos", "--orders", "240", "--rate", "30", "--kills", "5", "--seed", "7", "--faults", "--settle", "120",
            ])
            #expect(kills.contains("the contract held"), "\(kills)\n\(stack.warnings(Self.services))")
            #expect(kills.contains("5 of 5 disruptions done"), "\(kills)")
            let killed = try newestReport()
            let journal = try String(contentsOf: killed.appendingPathComponent("chaos.log"), encoding: .utf8)
            for service in Self.services {
                #expect(journal.components(separatedBy: "SIGKILL \(service) ").count - 1 == 1, "\(service): \(journal)")
                #expect(journal.components(separatedBy: "restarted \(service) ").count - 1 == 1, "\(service): \(journal)")
            }

            // The infrastructure: brokers, Redis and PostgreSQL, and two more kills.
            let infrastructure = try await stack.settle([
                "chaos", "--orders", "150", "--rate", "30", "--kills", "2", "--seed", "3", "--brokers", "--redis", "--postgres",
                "--settle", "120",
            ])
            #expect(infrastructure.contains("the contract held"), "\(infrastructure)\n\(stack.warnings(Self.services))")
            #expect(infrastructure.contains("6 of 6 disruptions done"), "\(infrastructure)")
            let outages = try String(contentsOf: try newestReport().appendingPathComponent("chaos.log"), encoding: .utf8)
            #expect(outages.contains("started Redis") && outages.contains("started PostgreSQL"), "\(outages)")
            #expect(outages.components(separatedBy: " up\n").count - 1 == 2, "both broker outages ended: \(outages)")
            let history = try String(contentsOf: try newestReport().appendingPathComponent("history.jsonl"), encoding: .utf8)
            #expect(history.split(separator: "\n").count >= 120, "most of the 150 orders accepted despite the PostgreSQL restart")

            // Every service runs again, ready, and the contract holds for everything, checked on its own.
            let status = try await stack.settle(["status"])
            #expect(!status.contains("FAIL"), "\(status)")
            let verified = try await stack.settle(["verify", "--history", killed.appendingPathComponent("history.jsonl").path,
                                                   "--settle", "30"])
            #expect(verified.contains("the contract held"), "\(verified)")
        }
    }
}
