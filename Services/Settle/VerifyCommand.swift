import ArgumentParser
import Foundation
import SettleDomain
import SettleRuntime
import SettleStorage

/// `settle verify`: checks Settle's contract (nothing lost, nothing charged twice) against the
/// history, from sources that do not share a failure: PostgreSQL's orders and events, the
/// card-processor simulator's own records of the money it moved, what Kafka actually holds,
/// what the sink actually received, and, when given, what a load test was answered. It waits
/// for work in flight to finish (up to `--settle`), prints a table of the checks with counts,
/// and exits non-zero on any violation.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the contract against the history: every accepted order stored, one outcome each or dead-lettered, charged at most once, events on Kafka in order, every webhook delivered or dead-lettered.",
        discussion: """
            --history names a load's answers, one JSON object per line: {"key": <Idempotency-Key>, \\
            "merchant": <id>, "order_id": <id>, "status": 201}. Without it the checks that need it are skipped.
            """
    )

    @Option(help: "A load's history (JSON lines of the 201s it was answered).")
    var history: String?

    @Option(help: "Only orders and events created at or after this instant (ISO 8601, e.g. 2026-12-02T14:00:00Z).")
    var since: String?

    @Option(help: "Seconds to wait for orders, events and webhooks still in flight before judging them.")
    var settle = 60

    @Option(help: "The card-processor simulator's schema in DATABASE_URL's database.")
    var processorSchema = ProcessorSchemaName.default.description

    func validate() throws {
        if let since, ISO8601DateFormatter().date(from: since) == nil { throw ValidationError("--since must be ISO 8601, e.g. 2026-12-02T14:00:00Z") }
        guard (0...3_600).contains(settle) else { throw ValidationError("--settle must be 0 to 3600 seconds") }
        guard ProcessorSchemaName(processorSchema) != nil else { throw ValidationError("--processor-schema must match ^[a-z_][a-z0-9_]{0,62}$") }
    }

    func run() async throws {
        let environment = StackEnvironment.load()
        let history = try self.history.map { try LoadHistory.read(URL(fileURLWithPath: $0)) }
        let verifier = try Verifier(
            environment: environment, processorSchema: ProcessorSchemaName(processorSchema) ?? .default,
            since: since.flatMap { ISO8601DateFormatter().date(from: $0) } ?? Date(timeIntervalSince1970: 0), history: history)
        let checks = try await verifier.run(settle: .seconds(settle)) { line in print(line) }
        Verifier.printTable(checks)
        if checks.contains(where: \.failed) { throw ExitCode(1) }
    }
}

/// What a load was answered: each 201 with its key, merchant and order.
struct LoadHistory: Sendable {
    struct Accepted: Sendable, Codable {
        var key: String?
        var merchant: String
        var orderID: String
        var status: Int

        enum CodingKeys: String, CodingKey {
            case key, merchant, status
            case orderID = "order_id"
        }
    }

    var accepted: [Accepted]

    static func read(_ file: URL) throws -> LoadHistory {
        let text: String
        do { text = try String(contentsOf: file, encoding: .utf8) } catch {
            throw ValidationError("cannot read --history \(file.path): \(error.localizedDescription)")
        }
        var accepted: [Accepted] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.isEmpty {
            do {
                accepted.append(try JSONDecoder().decode(Accepted.self, from: Data(line.utf8)))
            } catch {
                throw ValidationError("--history line \(index + 1) is not {\"key\",\"merchant\",\"order_id\",\"status\"}")
            }
        }
        return LoadHistory(accepted: accepted.filter { $0.status == 201 })
    }
}
