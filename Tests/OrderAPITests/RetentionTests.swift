import Foundation
import PostgresNIO
import SettleTestSupport
import Testing

/// The API runs the history retention (`HistoryRetention`) as production does, on its interval.
@Suite("History retention in the API")
struct RetentionTests {
    @Test("The running API drops a day of keys past retention and deletes dead letters replayed before the events' retention; open ones stay")
    func runningAPIKeepsHistoryBounded() async throws {
        try await APIHarness.run(environment: ["SETTLE_RETENTION_INTERVAL_SECONDS": "1", "SETTLE_EVENT_RETENTION_DAYS": "400"]) { api in
            let logger = APIHarness.logger
            try await api.database.query("SELECT settle_create_history_partition('idempotency_keys', now() - interval '3 days')", logger: logger)
            let oldDay = "idempotency_keys_" + Self.day(Date().addingTimeInterval(-3 * 86_400))
            #expect(try await TestDatabase.tables(api.database).contains(oldDay))
            try await api.database.query("""
                INSERT INTO dead_letters (topic, original_topic, source_topic, source_partition, source_offset, consumer_group, payload,
                                          headers, error_class, error_message, attempts, dead_letter_count, first_failed_at,
                                          created_at, replayed_at)
                SELECT 'orders.v1.dlq', 'orders.v1', 'orders.v1', 0, n, 'settle-worker', '\\x00', '[]', 'permanent', 'declined', 1, 1,
                       now() - interval '501 days', now() - interval '501 days', CASE WHEN n = 1 THEN now() - interval '500 days' END
                FROM generate_series(1, 2) n
                """, logger: logger)
            try await eventually("the retention job to run") {
                let offsets = try await Self.offsets(api)
                let tables = try await TestDatabase.tables(api.database)
                return offsets == [2] && !tables.contains(oldDay)
            }
        }
    }

    static func day(_ date: Date) -> String {
        let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%04d_%02d_%02d", parts.year!, parts.month!, parts.day!)
    }

    static func offsets(_ api: APIHarness) async throws -> [Int64] {
        var offsets: [Int64] = []
        for try await offset in try await api.database.query("SELECT source_offset FROM dead_letters ORDER BY 1", logger: APIHarness.logger)
            .decode(Int64.self) { offsets.append(offset) }
        return offsets
    }
}
