import Foundation
import Logging
import PostgresNIO

/// `dead_letters` (migration 0007): what consumers dead-lettered, for `settle dlq`, the DLQ-depth
/// gauge and replays.
public struct DeadLetterStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Longest a consumer's insert or the depth gauge's count may take, lease included: past it
    /// the connection is closed (`PostgresClient.withConnection(deadline:)`), so a silent one
    /// stalls neither a partition nor the pool.
    let statementDeadline: Duration

    public init(client: PostgresClient, logger: Logger, statementDeadline: Duration = .seconds(10)) {
        self.statementDeadline = statementDeadline
        self.client = client
        self.logger = logger
    }

    /// Records a dead letter; recording the same message read at the same place again does nothing.
    public func insert(_ letter: DeadLetter) async throws {
        let headers = String(decoding: try JSONEncoder().encode(letter.headers.map { ["key": $0.key, "value": $0.value] }), as: UTF8.self)
        let payload = ByteBuffer(bytes: letter.payload)
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await connection.query("""
                INSERT INTO dead_letters (topic, original_topic, source_topic, source_partition, source_offset, consumer_group,
                                          event_id, key, payload, headers, error_class, error_message, attempts,
                                          dead_letter_count, first_failed_at)
                VALUES (\(letter.topic), \(letter.originalTopic), \(letter.sourceTopic), \(letter.sourcePartition), \(letter.sourceOffset),
                        \(letter.consumerGroup), \(letter.eventID), \(letter.key), \(payload), \(headers)::jsonb, \(letter.errorClass),
                        \(letter.errorMessage), \(letter.attempts), \(letter.deadLetterCount), \(letter.firstFailedAt))
                ON CONFLICT (consumer_group, source_topic, source_partition, source_offset, md5(payload)) DO NOTHING
                """, logger: logger)
        }
    }

    /// Dead letters not replayed yet, oldest first, of one dead-letter topic or all.
    public func open(topic: String?) async throws -> [DeadLetter] {
        try await fetch("""
            SELECT \(unescaped: Self.columns) FROM dead_letters
            WHERE replayed_at IS NULL AND (\(topic)::text IS NULL OR topic = \(topic)) ORDER BY id
            """)
    }

    /// Dead letters not replayed yet whose id, event id or key (the order id) is `id`.
    public func open(id: String) async throws -> [DeadLetter] {
        let number = Int64(id)
        let event = UUID(uuidString: id)
        return try await fetch("""
            SELECT \(unescaped: Self.columns) FROM dead_letters
            WHERE replayed_at IS NULL AND (id = \(number) OR event_id = \(event) OR key = \(id)) ORDER BY id
            """)
    }

    /// Marks a dead letter replayed; false when another replay got there first.
    public func markReplayed(_ id: Int64, to topic: String) async throws -> Bool {
        let rows = try await client.query("""
            UPDATE dead_letters SET replayed_at = now(), replayed_to = \(topic) WHERE id = \(id) AND replayed_at IS NULL RETURNING id
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// Deletes the dead letters replayed more than `age` ago, a thousand rows per statement so no
    /// statement holds many rows' locks for long; returns how many it deleted. A dead letter not
    /// replayed is open work (the DLQ-depth alert counts it) and stays however old it is.
    @discardableResult
    public func deleteReplayed(olderThan age: Duration) async throws -> Int {
        let seconds = Double(age.components.seconds)
        var deleted = 0
        while true {
            let rows = try await client.query("""
                WITH gone AS (
                    SELECT id FROM dead_letters WHERE replayed_at < now() - \(seconds) * interval '1 second' ORDER BY id LIMIT 1000
                )
                DELETE FROM dead_letters d USING gone WHERE d.id = gone.id RETURNING d.id
                """, logger: logger)
            var count = 0
            for try await _ in rows.decode(Int64.self) { count += 1 }
            deleted += count
            if count < 1000 { return deleted }
        }
    }

    /// Dead letters not replayed, per dead-letter topic (the DLQ-depth gauge).
    public func depth() async throws -> [String: Int] {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            let rows = try await connection.query(
                "SELECT topic, count(*)::int FROM dead_letters WHERE replayed_at IS NULL GROUP BY topic", logger: logger)
            var depth: [String: Int] = [:]
            for try await (topic, count) in rows.decode((String, Int).self) { depth[topic] = count }
            return depth
        }
    }

    private static let columns = """
        id, topic, original_topic, source_topic, source_partition, source_offset, consumer_group, event_id, key, payload,
        headers::text AS headers, error_class, error_message, attempts, dead_letter_count, first_failed_at, created_at
        """

    private func fetch(_ query: PostgresQuery) async throws -> [DeadLetter] {
        let rows = try await client.query(query, logger: logger)
        var letters: [DeadLetter] = []
        for try await row in rows {
            let columns = row.makeRandomAccess()
            func value<T: PostgresDecodable>(_ name: String, _: T.Type = T.self) throws -> T {
                try columns[name].decode(T.self, context: .default)
            }
            let pairs = (try? JSONDecoder().decode([[String: String]].self, from: Data(try value("headers", String.self).utf8))) ?? []
            letters.append(DeadLetter(
                id: try value("id"), topic: try value("topic"), originalTopic: try value("original_topic"),
                sourceTopic: try value("source_topic"), sourcePartition: try value("source_partition"),
                sourceOffset: try value("source_offset"), consumerGroup: try value("consumer_group"),
                eventID: try value("event_id"), key: try value("key"), payload: Array(buffer: try value("payload", ByteBuffer.self)),
                headers: pairs.compactMap { pair in pair["key"].map { ($0, pair["value"] ?? "") } },
                errorClass: try value("error_class"), errorMessage: try value("error_message"),
                attempts: Int(try value("attempts", Int32.self)), deadLetterCount: Int(try value("dead_letter_count", Int32.self)),
                firstFailedAt: try value("first_failed_at"), createdAt: try value("created_at")))
        }
        return letters
    }
}
