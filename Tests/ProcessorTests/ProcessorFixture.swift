import Foundation
import PostgresNIO
import SettleTestSupport
import Synchronization

/// One processor test's world: a database of its own on the stack's PostgreSQL, a schema name
/// of its own in it, and the `settle processor` processes the test started (killed at the end),
/// so tests run in parallel and faults set by one never reach another.
final class ProcessorFixture: Sendable {
    let database: PostgresClient
    let databaseURL: URL
    let schema: String
    private let started = Mutex<[ProcessorUnderTest]>([])

    private init(database: PostgresClient, databaseURL: URL) {
        self.database = database
        self.databaseURL = databaseURL
        schema = UniqueName.make("processor").replacingOccurrences(of: "-", with: "_")
    }

    static func run(_ body: @Sendable (ProcessorFixture) async throws -> Void) async throws {
        try await TestDatabase.with { client, url in
            let fixture = ProcessorFixture(database: client, databaseURL: url)
            do {
                try await body(fixture)
            } catch {
                await fixture.stopAll()
                throw error
            }
            await fixture.stopAll()
        }
    }

    /// Starts a simulator on this test's database and schema.
    func start(_ arguments: [String] = []) async throws -> ProcessorUnderTest {
        let processor = try await ProcessorUnderTest(databaseURL: databaseURL, schema: schema, arguments: arguments)
        started.withLock { $0.append(processor) }
        return processor
    }

    /// A fresh order id, as Settle's worker would send it (upper case on purpose: answers are lower case).
    func newOrderID() -> String { UUID().uuidString }

    private func stopAll() async {
        for processor in started.withLock({ $0 }) {
            try? await processor.kill()
        }
    }
}
