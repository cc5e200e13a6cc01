import Foundation
import Logging
import PostgresNIO

/// The relay's side of the outbox, on one connection the relay holds: the advisory locks that
/// make it a shard's only publisher live in that connection's session, and every read and
/// delete goes through it too, so a relay whose session ended (and whose locks another relay
/// may now hold) cannot delete anything any more. The session commits its deletes without
/// waiting for the WAL flush: a delete lost in a crash only means a row is sent again, a
/// duplicate with its original `event-id`, which consumers drop (contract clause 5).
public struct OutboxStore: Sendable {
    /// Rows are sharded by `hashtext(key) & 15` (migration 0003).
    public static let shardCount = 16
    /// The first key of the advisory locks, so they cannot collide with other locks (the
    /// migrator's use another).
    static let lockNamespace: Int32 = 0x5E77_0B0C

    let connection: PostgresConnection
    let logger: Logger

    public init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Takes the shard if no other session holds it.
    public func tryLock(shard: Int) async throws -> Bool {
        let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockNamespace), \(Int32(shard)))", logger: logger)
        for try await locked in rows.decode(Bool.self) { return locked }
        return false
    }

    public func unlock(shard: Int) async throws {
        try await connection.query("SELECT pg_advisory_unlock(\(Self.lockNamespace), \(Int32(shard)))", logger: logger)
    }

    /// How many relays are connected (each holds one session named `applicationName`).
    public func liveRelays(applicationName: String) async throws -> Int {
        let rows = try await connection.query(
            "SELECT count(*)::int FROM pg_stat_activity WHERE application_name = \(applicationName) AND datname = current_database()",
            logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 1
    }

    /// The next rows of each shard after a position, up to `limit` per shard, in (transaction id,
    /// id) order: only rows whose transaction is older than every transaction still in progress
    /// (below the snapshot's xmin, migration 0006), so nothing can still appear before a position
    /// once it was read, and per order this order is commit order. One round trip for all the
    /// shards a relay owns. Starting after the last row a relay deleted skips the dead index
    /// entries its own deletes left behind, which otherwise every scan walks until vacuum.
    public func pending(shards: [(shard: Int, after: OutboxPosition)], limit: Int) async throws -> [OutboxRow] {
        let rows = try await connection.execute(PendingRows(shards: shards, limit: limit), logger: logger)
        var result: [OutboxRow] = []
        var headers: [String] = []
        for try await (row, rowHeaders) in rows {
            result.append(row)
            headers.append(rowHeaders)
        }
        // The rows' header objects are decoded as one array, one decoder call per round (a call
        // per row was 7 % of the relay's CPU under load); if one object is not a string map,
        // each row is decoded alone so only that row loses its headers.
        let decoded = (try? JSONDecoder().decode([[String: String]].self, from: Data("[\(headers.joined(separator: ","))]".utf8))) ?? []
        if decoded.count == result.count {
            for index in result.indices { result[index].headers = decoded[index] }
        } else {
            for index in result.indices {
                result[index].headers = (try? JSONDecoder().decode([String: String].self, from: Data(headers[index].utf8))) ?? [:]
            }
        }
        return result
    }

    /// The shard scans as one query with its bindings; public so a test can check their plan
    /// is index scans.
    public static func pendingQuery(shards: [(shard: Int, after: OutboxPosition)], limit: Int) -> PostgresQuery {
        let statement = PendingRows(shards: shards, limit: limit)
        return PostgresQuery(unsafeSQL: PendingRows.sql, binds: statement.makeBindings())
    }

    /// Removes rows whose messages the broker acknowledged.
    public func delete(ids: [Int64]) async throws {
        _ = try await connection.execute(DeleteRows(ids: ids), logger: logger)
    }

    /// Rows waiting and the age of the oldest, for the backlog metrics.
    public func backlog() async throws -> (rows: Int, oldestAge: Double) {
        let rows = try await connection.query(
            "SELECT count(*)::int, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox", logger: logger)
        for try await (count, age) in rows.decode((Int, Double).self) { return (count, age) }
        return (0, 0)
    }
}

/// An outbox row: one event's Kafka message.
public struct OutboxRow: Sendable {
    public var id: Int64
    /// The transaction that wrote the row (`pg_current_xact_id()`).
    public var xactID: Int64
    public var shard: Int
    public var eventID: UUID
    public var topic: String
    public var key: String
    public var payload: String
    public var headers: [String: String]
    public var createdAt: Date

    public init(id: Int64, xactID: Int64, shard: Int, eventID: UUID, topic: String, key: String, payload: String,
                headers: [String: String], createdAt: Date) {
        self.id = id
        self.xactID = xactID
        self.shard = shard
        self.eventID = eventID
        self.topic = topic
        self.key = key
        self.payload = payload
        self.headers = headers
        self.createdAt = createdAt
    }

    /// Where the relay is in the shard once this row is published.
    public var position: OutboxPosition { OutboxPosition(xactID: xactID, id: id) }

    /// The rows one round may send: of each shard's rows (in read order), those before the
    /// first key that repeats. A key's next row then waits for the round that follows the
    /// acknowledgement of its previous one, so a row the broker refuses is never overtaken
    /// in Kafka by a later event of its order; rounds stay a per-shard prefix, as the relay's
    /// deletes and positions assume.
    public static func oneRoundPrefix(_ rows: [OutboxRow]) -> [OutboxRow] {
        var keys: Set<String> = []
        var cut: Set<Int> = []
        return rows.filter { row in
            guard !cut.contains(row.shard) else { return false }
            guard keys.insert(row.key).inserted else {
                cut.insert(row.shard)
                return false
            }
            return true
        }
    }
}

/// The relay's round read, prepared once per session: a round costs PostgreSQL no parse and
/// analysis of its own (with the delete's, about 4 % of the server's CPU under load). The relay's
/// session still plans it on every run (see `OutboxRelay`). The statement is the same for any
/// number of shards, which come as arrays.
struct PendingRows: PostgresPreparedStatement {
    // xid8 has no cast from bigint; text is the way between them (ids stay below 2^63).
    static let sql = """
        SELECT o.id, o.xact_id::text::bigint, o.shard, o.event_id, o.topic, o.key, o.payload::text, o.headers::text, o.created_at
        FROM unnest($1::smallint[], $2::bigint[], $3::bigint[]) AS s(shard, after_xact, after_id)
        CROSS JOIN (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS horizon
        CROSS JOIN LATERAL (
            SELECT * FROM outbox
            WHERE outbox.shard = s.shard AND (outbox.xact_id, outbox.id) > (s.after_xact::text::xid8, s.after_id)
              AND outbox.xact_id < horizon.xmin
            ORDER BY outbox.xact_id, outbox.id LIMIT $4
        ) AS o
        ORDER BY o.shard, o.xact_id, o.id
        """

    /// A row, and its headers as the JSON text they are stored as (decoded per round).
    typealias Row = (OutboxRow, String)

    var shards: [(shard: Int, after: OutboxPosition)]
    var limit: Int

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(shards.map { Int16($0.shard) })
        bindings.append(shards.map(\.after.xactID))
        bindings.append(shards.map(\.after.id))
        bindings.append(Int64(limit))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (id, xactID, shard, eventID, topic, key, payload, headers, createdAt) =
            try row.decode((Int64, Int64, Int16, UUID, String, String, String, String, Date).self)
        return (OutboxRow(id: id, xactID: xactID, shard: Int(shard), eventID: eventID, topic: topic, key: key, payload: payload,
                          headers: [:], createdAt: createdAt), headers)
    }
}

/// The relay's delete of what the broker acknowledged, prepared once per session likewise.
struct DeleteRows: PostgresPreparedStatement {
    static let sql = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
    typealias Row = ()

    var ids: [Int64]

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(ids)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}
