import Foundation
import Logging
import PostgresNIO
import SettleKafka
import SettleStorage
import SettleTestSupport
import Synchronization

/// One relay test's world: a database of its own (migrated), a development broker of its own,
/// a topic, and `settle-relay` processes that can be killed.
struct RelayFixture: Sendable {
    let database: PostgresClient
    let databaseURL: URL
    let broker: PrivateBroker
    let topic: String

    static let logger: Logger = {
        var logger = Logger(label: "settle-relay-tests")
        logger.logLevel = .critical
        return logger
    }()

    static func run(_ body: @Sendable (RelayFixture) async throws -> Void) async throws {
        let broker = try await PrivateBroker.start()
        do {
            try await TestDatabase.with(migrated: true) { client, url in
                try await Migrator(client: client, logger: logger).migrate()
                let topic = UniqueName.make("relay")
                try await broker.admin.createTopic(topic, partitions: 12)
                try await body(RelayFixture(database: client, databaseURL: url, broker: broker, topic: topic))
            }
        } catch {
            try? await broker.stop()
            throw error
        }
        try await broker.stop()
    }

    /// Runs `body` with a reader of this test's topic and a `settle-relay` started with
    /// `environment`, then stops the relay as a deployment does (SIGTERM, waited for) and the
    /// reader. If `body` throws, the relay is killed instead.
    func withRelay(environment: [String: String] = [:], _ body: (TopicReader) async throws -> Void) async throws {
        let reader = try TopicReader(self)
        async let reading: Void = reader.run()
        let relay = try startRelay(environment: environment)
        do {
            try await body(reader)
            relay.kill(SIGTERM)
            try await eventually("the relay to stop") { relay.outputClosed }
        } catch {
            relay.kill(SIGKILL)
            await reader.stop()
            await reading
            throw error
        }
        await reader.stop()
        await reading
    }

    /// Starts a `settle-relay` process on this test's database and broker.
    func startRelay(environment extra: [String: String] = [:]) throws -> ChildProcess {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL.absoluteString
        environment["KAFKA_BROKERS"] = broker.bootstrapServers
        environment["SETTLE_RELAY_PORT"] = String(try FreePort.make())
        environment["SETTLE_LOG_LEVEL"] = "error"
        environment["SETTLE_RELAY_POLL_MS"] = "200"
        environment["SETTLE_DATABASE_POOL_SIZE"] = "4"  // tests share one server's connection limit
        for (key, value) in extra { environment[key] = value }
        return try ChildProcess(TestStack.executable("settle-relay"), [], environment: environment)
    }

    /// Inserts outbox rows `key:sequence` for each key in `sequences`, one transaction per row
    /// (as the API commits them), in the order given; with `traceparent`, every row carries it.
    func insert(_ rows: [(key: String, sequence: Int)], traceparent: String? = nil) async throws {
        for row in rows {
            let payload = #"{"key":"\#(row.key)","sequence":\#(row.sequence)}"#
            let trace = traceparent.map { #","traceparent":"\#($0)""# } ?? ""
            let headers = #"{"event-id":"\#(UUID().uuidString.lowercased())"\#(trace)}"#
            try await database.query("""
                INSERT INTO outbox (event_id, topic, key, payload, headers)
                VALUES (gen_random_uuid(), \(topic), \(row.key), \(payload)::jsonb, \(headers)::jsonb)
                """, logger: Self.logger)
        }
    }

    func outboxCount() async throws -> Int {
        for try await count in try await database.query("SELECT count(*)::int FROM outbox", logger: Self.logger).decode(Int.self) {
            return count
        }
        return 0
    }
}

/// Everything read from the test's topic, in arrival order.
final class TopicReader: Sendable {
    struct Record: Sendable {
        var key: String
        var sequence: Int
        var eventID: String
        var payload: String
        var traceparent: String? = nil
    }

    private let records = Mutex<[Record]>([])
    private let consumer: KafkaConsumer

    init(_ fixture: RelayFixture) throws {
        consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: fixture.broker.bootstrapServers, clientID: "relay-tests"),
            groupID: UniqueName.make("group"), topics: [fixture.topic], logger: RelayFixture.logger)
    }

    var all: [Record] { records.withLock { $0 } }
    var distinctEvents: Int { Set(all.map(\.eventID)).count }

    /// Reads until the consumer is shut down.
    func run() async {
        for await message in consumer.messages {
            let payload = message.valueString
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
                  let key = object["key"] as? String, let sequence = object["sequence"] as? Int else { continue }
            let record = Record(key: key, sequence: sequence, eventID: message.headers.first(named: "event-id") ?? "", payload: payload,
                                traceparent: message.headers.first(named: "traceparent"))
            records.withLock { $0.append(record) }
        }
    }

    func stop() async { await consumer.shutdown() }

    /// Keys whose events, with duplicates dropped by event id as consumers do, arrived out of order.
    func outOfOrderKeys() -> [String] {
        var seen: Set<String> = []
        var last: [String: Int] = [:]
        var broken: Set<String> = []
        for record in all where seen.insert(record.eventID).inserted {
            if let previous = last[record.key], record.sequence <= previous { broken.insert(record.key) }
            last[record.key] = record.sequence
        }
        return broken.sorted()
    }

    /// Event ids that arrived with two different payloads (a duplicate must carry its original id).
    func inconsistentDuplicates() -> [String] {
        var payloads: [String: String] = [:]
        var broken: [String] = []
        for record in all {
            if let first = payloads[record.eventID], first != record.payload { broken.append(record.eventID) }
            payloads[record.eventID] = payloads[record.eventID] ?? record.payload
        }
        return broken
    }
}
