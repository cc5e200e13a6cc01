import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SettleDomain
import SettleKafka
import SettleStorage
import SettleTestSupport
import Synchronization

/// One worker test's world: a database of its own (migrated, one merchant), a development broker
/// of its own, a card-processor simulator of its own (so its faults reach no other test), a
/// relay publishing the outbox, and `settle-worker` processes that can be killed.
struct WorkerFixture: Sendable {
    let database: PostgresClient
    let databaseURL: URL
    let broker: PrivateBroker
    let processorURL: String
    let merchant: UUID
    let producer: KafkaProducer
    /// Every child process the test started, killed when the test ends however it ends.
    let started: ChildProcesses

    static let logger: Logger = {
        var logger = Logger(label: "settle-worker-tests")
        logger.logLevel = .critical
        return logger
    }()

    static func run(_ body: @Sendable (WorkerFixture) async throws -> Void) async throws {
        let broker = try await PrivateBroker.start()
        // Every child is registered as soon as it runs, so whatever fails below, none is left
        // running: a leftover child keeps the test runner's output open and the run never ends.
        let children = ChildProcesses()
        do {
            try await TestDatabase.with(migrated: true) { client, url in
                let producer = try KafkaProducer(
                    configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, clientID: "worker-tests"), logger: logger)
                do {
                    try await Migrator(client: client, logger: logger).migrate()
                    let merchant = UUID()
                    try await client.query("INSERT INTO merchants (id, name) VALUES (\(merchant), 'worker tests')", logger: logger)
                    let processorPort = try FreePort.make()
                    children.append(try ChildProcess(TestStack.executable("settle"), ["processor", "--port", "\(processorPort)"],
                                                     environment: Self.environment(["DATABASE_URL": url.absoluteString])))
                    let processorURL = "http://127.0.0.1:\(processorPort)"
                    children.append(try ChildProcess(TestStack.executable("settle-relay"), [], environment: Self.environment([
                        "DATABASE_URL": url.absoluteString, "KAFKA_BROKERS": broker.bootstrapServers,
                        "SETTLE_RELAY_PORT": String(try FreePort.make()), "SETTLE_RELAY_POLL_MS": "200",
                    ])))
                    try await eventually("the processor to answer") { (try? await Self.get(processorURL + "/healthz").status) == 200 }
                    try await body(WorkerFixture(database: client, databaseURL: url, broker: broker, processorURL: processorURL,
                                                 merchant: merchant, producer: producer, started: children))
                } catch {
                    await Self.stop(children, producer: producer)
                    throw error
                }
                await Self.stop(children, producer: producer)
            }
        } catch {
            try? await broker.stop()
            throw error
        }
        try await broker.stop()
    }

    private static func stop(_ children: ChildProcesses, producer: KafkaProducer) async {
        await producer.shutdown()
        await children.stopAll()
    }

    static func environment(_ values: [String: String]) -> [String: String] { ChildProcesses.environment(values) }

    // MARK: Workers

    /// A `settle-worker` process on this test's database, broker and processor.
    struct Worker: Sendable {
        let process: ChildProcess
        let port: Int

        /// A counter or gauge from its `/metrics`, summed over the series whose labels contain `labels`.
        func metric(_ name: String, labels: String = "") async throws -> Double {
            try await ServiceEndpoint(port: port).metric(name, labels: labels)
        }
    }

    /// Starts a worker and waits until it answers `/healthz`. Retry topics are due quickly and
    /// in-process backoff is short unless `extra` says otherwise.
    func startWorker(_ extra: [String: String] = [:]) async throws -> Worker {
        let port = try FreePort.make()
        var values = [
            "DATABASE_URL": databaseURL.absoluteString, "KAFKA_BROKERS": broker.bootstrapServers,
            "REDIS_URL": TestStack.shared.redisURL, "SETTLE_PROCESSOR_URL": processorURL, "SETTLE_WORKER_PORT": String(port),
            "SETTLE_WORKER_RETRY_DELAYS_MS": "100,200,300", "SETTLE_WORKER_BACKOFF_BASE_MS": "20",
        ]
        for (key, value) in extra { values[key] = value }
        let process = try ChildProcess(TestStack.executable("settle-worker"), [], environment: Self.environment(values))
        started.append(process)
        try await eventually("settle-worker to answer /healthz") {
            guard process.isRunning else { throw Failure(description: "settle-worker exited at start:\n\(process.errorTail())") }
            return (try? await Self.get("http://127.0.0.1:\(port)/healthz").status) == 200
        }
        return Worker(process: process, port: port)
    }

    func kill(_ worker: Worker, _ signal: Int32 = SIGKILL) async throws {
        worker.process.kill(signal)
        // Leaving the group and flushing can take a while on a machine as loaded as the test run makes it.
        try await eventually("settle-worker to exit", within: .seconds(90)) { worker.process.outputClosed }
    }

    // MARK: Orders

    /// Creates orders as the API does (order, `order.created` event and outbox row in one
    /// transaction); the relay publishes them.
    func createOrders(_ methods: [String]) async throws -> [UUID] {
        let ids = methods.map { _ in UUIDv7.make() }
        let events = methods.map { _ in UUIDv7.make() }
        try await database.query("""
            WITH input AS (
                SELECT * FROM unnest(\(ids)::uuid[], \(events)::uuid[], \(methods)::text[]) AS i(id, event_id, method)
            ), created AS (
                INSERT INTO orders (id, merchant_id, amount, currency, payment_method, status)
                SELECT id, \(merchant), 1299, 'usd', method, 'pending' FROM input RETURNING id
            ), event AS (
                INSERT INTO events (id, merchant_id, order_id, type, data)
                SELECT i.event_id, \(merchant), c.id, 'order.created', jsonb_build_object('object', jsonb_build_object('id', c.id))
                FROM created c JOIN input i USING (id)
                RETURNING id, merchant_id, order_id, type, data, created_at
            )
            INSERT INTO outbox (event_id, topic, key, payload, headers)
            SELECT id, 'orders.v1', order_id::text, settle_event_envelope(id, type, merchant_id, created_at, data),
                   settle_outbox_headers(id, type, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
            FROM event
            """, logger: Self.logger)
        return ids
    }

    func createOrder(_ method: String) async throws -> UUID {
        try await createOrders([method])[0]
    }

    /// Publishes an order's `order.created` message again, as Kafka may deliver it twice.
    func republishCreated(_ order: UUID) async throws {
        let rows = try await database.query("""
            SELECT settle_event_envelope(id, type, merchant_id, created_at, data)::text, id FROM events
            WHERE order_id = \(order) AND type = 'order.created'
            """, logger: Self.logger)
        for try await (envelope, event) in rows.decode((String, UUID).self) {
            try await publish(Array(envelope.utf8), key: order.lowercased, headers: [
                KafkaHeader(key: "event-id", value: event.lowercased), KafkaHeader(key: "event-type", value: "order.created"),
            ])
        }
    }

    func publish(_ value: [UInt8], key: String, headers: [KafkaHeader] = [], topic: String = KafkaTopics.orders) async throws {
        try await producer.send(KafkaProducerMessage(topic: topic, key: Array(key.utf8), value: value, headers: headers))
    }

    func status(_ order: UUID) async throws -> (status: String, failureCode: String?)? {
        let rows = try await database.query("SELECT status, failure_code FROM orders WHERE id = \(order)", logger: Self.logger)
        for try await (status, code) in rows.decode((String, String?).self) { return (status, code) }
        return nil
    }

    /// Orders of `ids` by status.
    func statuses(_ ids: [UUID]) async throws -> [String: Int] {
        let rows = try await database.query(
            "SELECT status, count(*)::int FROM orders WHERE id = ANY(\(ids)) GROUP BY status", logger: Self.logger)
        var result: [String: Int] = [:]
        for try await (status, count) in rows.decode((String, Int).self) { result[status] = count }
        return result
    }

    /// `payment.*` events per order (each terminal state has exactly one).
    func paymentEvents(_ ids: [UUID], type: String? = nil) async throws -> [UUID: Int] {
        let rows = try await database.query("""
            SELECT order_id, count(*)::int FROM events
            WHERE order_id = ANY(\(ids)) AND type IN ('payment.succeeded', 'payment.failed') AND (\(type)::text IS NULL OR type = \(type))
            GROUP BY order_id
            """, logger: Self.logger)
        var result: [UUID: Int] = [:]
        for try await (order, count) in rows.decode((UUID, Int).self) { result[order] = count }
        return result
    }

    func events(_ order: UUID) async throws -> [String] {
        let rows = try await database.query("SELECT type FROM events WHERE order_id = \(order) ORDER BY id", logger: Self.logger)
        var types: [String] = []
        for try await type in rows.decode(String.self) { types.append(type) }
        return types
    }

    /// Dead letters not replayed, oldest first.
    func deadLetters() async throws -> [DeadLetter] {
        try await DeadLetterStore(client: database, logger: Self.logger).open(topic: nil)
    }

    // MARK: The processor

    struct Counts: Decodable, Sendable {
        var charges: Int
        var refunds: Int
        var calls: Int
    }

    func counts(_ order: UUID) async throws -> Counts {
        let reply = try await Self.get(processorURL + "/charges/\(order.lowercased)")
        return try JSONDecoder().decode(Counts.self, from: Data(reply.body.utf8))
    }

    func faults(_ json: String) async throws {
        var request = HTTPClientRequest(url: processorURL + "/faults")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { throw Failure(description: "POST /faults \(json): \(response.status)") }
    }

    // MARK: HTTP

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func get(_ url: String) async throws -> (status: Int, body: String) {
        try await ServiceEndpoint.get(url)
    }
}
