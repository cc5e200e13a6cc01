import Foundation
import SettleRuntime
import SettleTestSupport
import Testing

/// `settle chaos` on a local stack of its own (`settle up` in a scratch home on free ports), so
/// its kills disturb no other test.
@Suite("settle chaos")
struct ChaosTests {
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

    @Test("Kills of relays, workers and the dispatcher, a broker outage and Redis and PostgreSQL restarts during a load with the simulator's faults on: every disruption undone, every service back, and settle verify's checks pass")
    func chaosRun() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("chaos-home"))
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let settle = TestStack.executable("settle").path
        let own = ["SETTLE_HOME": home.path, "SETTLE_PORT_BASE": "\(try FreePort.stackBase())"]
        do {
            _ = try await Tool.output(settle, ["up"], environment: own)
            // Exactly this stack's settings, whatever the test's own environment says.
            let stack = StackEnvironment.parse(try String(contentsOf: home.appendingPathComponent("stack.env"), encoding: .utf8))
            let environment = own.merging(stack) { $1 }
            let output = try await Tool.output(settle, [
                "chaos", "--orders", "120", "--rate", "30", "--kills", "4", "--seed", "7",
                "--brokers", "--redis", "--postgres", "--faults", "--settle", "120",
            ], environment: environment)
            #expect(output.contains("the contract held"), "\(output)")
            #expect(output.contains("8 of 8 disruptions done"), "\(output)")

            let reports = try FileManager.default.contentsOfDirectory(at: home.appendingPathComponent("reports"), includingPropertiesForKeys: nil)
            let report = try #require(reports.first { $0.lastPathComponent.hasPrefix("chaos-") })
            let journal = try String(contentsOf: report.appendingPathComponent("chaos.log"), encoding: .utf8)
            #expect(journal.components(separatedBy: "SIGKILL settle-").count - 1 == 4, "\(journal)")
            #expect(journal.components(separatedBy: "restarted settle-").count - 1 == 4, "\(journal)")
            #expect(journal.contains("started Redis") && journal.contains("started PostgreSQL"), "\(journal)")
            #expect(journal.components(separatedBy: " up\n").count - 1 == 2, "both broker outages ended: \(journal)")
            let history = try String(contentsOf: report.appendingPathComponent("history.jsonl"), encoding: .utf8)
            #expect(history.split(separator: "\n").count >= 100, "most of the 120 orders accepted despite the PostgreSQL restart")

            // Every service runs again, ready, and the contract still holds when checked on its own.
            let status = try await Tool.output(settle, ["status"], environment: environment)
            #expect(!status.contains("FAIL"), "\(status)")
            let verified = try await Tool.output(settle, ["verify", "--history", report.appendingPathComponent("history.jsonl").path,
                                                          "--settle", "30"], environment: environment)
            #expect(verified.contains("the contract held"), "\(verified)")
        } catch {
            _ = try? await Tool.output(settle, ["down"], environment: own)
            throw error
        }
        _ = try await Tool.output(settle, ["down"], environment: own)
    }
}
