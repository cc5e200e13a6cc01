import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import SettleDomain
import SettleKafka
import SettleStorage
import SettleTestSupport

/// One dispatcher test's world: a migrated database of its own with one merchant, the stack's
/// broker behind a topic prefix of its own, `settle sink` receivers and `settle-dispatcher`
/// processes (every child killed when the test ends, however it ends). Events are written to
/// the database and published to `payments.v1` by the test itself, as the relay would.
struct DispatcherFixture: Sendable {
    let database: PostgresClient
    let databaseURL: URL
    let prefix: String
    let merchant: UUID
    let producer: KafkaProducer
    let started: ChildProcesses

    static let logger: Logger = {
        var logger = Logger(label: "settle-dispatcher-tests")
        logger.logLevel = .critical
        return logger
    }()

    /// `server`: a PostgreSQL server of the test's own (one it will stop), used whole; by
    /// default a database of the test's own on the stack's server.
    static func run(server: URL? = nil, _ body: @Sendable (DispatcherFixture) async throws -> Void) async throws {
        let prefix = UniqueName.make("dispatch") + "."
        try await BrokerAdmin().createTopic(prefix + KafkaTopics.payments, partitions: 12)
        let children = ChildProcesses()
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: TestStack.shared.kafkaBrokers, clientID: "dispatcher-tests"),
                                         logger: logger)
        do {
            func prepare(_ client: PostgresClient, _ url: URL) async throws {
                try await Migrator(client: client, logger: logger).migrate()
                let merchant = UUID()
                try await client.query("INSERT INTO merchants (id, name) VALUES (\(merchant), 'dispatcher tests')", logger: logger)
                try await body(DispatcherFixture(database: client, databaseURL: url, prefix: prefix, merchant: merchant, producer: producer,
                                                 started: children))
            }
            if let server {
                try await TestDatabase.run(on: server) { client in try await prepare(client, server) }
            } else {
                try await TestDatabase.with(migrated: true) { client, url in try await prepare(client, url) }
            }
        } catch {
            await children.stopAll()
            await producer.shutdown()
            throw error
        }
        await children.stopAll()
        await producer.shutdown()
    }

    // MARK: receivers and dispatchers

    struct Sink: Sendable {
        let url: String
        let process: ChildProcess

        func hooks(_ name: String) -> String { url + "/hooks/" + name }

        func setSecrets(_ secrets: [String]) async throws {
            try await DispatcherFixture.send(.PUT, url + "/secrets", #"{"secrets":["\#(secrets.joined(separator: "\",\""))"]}"#)
        }

        func fault(_ json: String) async throws { try await DispatcherFixture.send(.POST, url + "/fault", json) }

        func clearFault() async throws { try await DispatcherFixture.send(.DELETE, url + "/fault", "") }

        /// How often the event arrived with a valid signature.
        func received(_ eventID: UUID) async throws -> Int {
            let answer = try await DispatcherFixture.json(url + "/deliveries?event_id=\(eventID.uuidString.lowercased())")
            return answer["received"] as? Int ?? -1
        }

        func totals() async throws -> [String: Any] { try await DispatcherFixture.json(url + "/deliveries") }

        /// Waits until every event arrived; on failure says so with the end of `dispatcher`'s log.
        func awaitAll(_ events: [UUID], _ what: String, within: Duration, dispatcher: ChildProcess) async throws {
            do {
                try await eventually(what, within: within) {
                    for event in events where try await received(event) < 1 { return false }
                    return true
                }
            } catch {
                throw Failure(description: "\(error); the dispatcher's log ends:\n\(dispatcher.errorTail(40))")
            }
        }
    }

    func startSink() async throws -> Sink {
        let port = try FreePort.make()
        let process = try ChildProcess(TestStack.executable("settle"), ["sink", "--port", "\(port)"],
                                       environment: Self.environment([:]))
        started.append(process)
        let url = "http://127.0.0.1:\(port)"
        try await eventually("settle sink to answer") {
            guard process.isRunning else { throw Failure(description: "settle sink exited at start:\n\(process.errorTail())") }
            return (try? await ServiceEndpoint.get(url + "/healthz").status) == 200
        }
        return Sink(url: url, process: process)
    }

    /// Starts a dispatcher with a compressed schedule, its operations port `port` (or a free
    /// one); `extra` overrides.
    func startDispatcher(_ extra: [String: String] = [:], port chosen: Int? = nil) async throws -> ChildProcess {
        let port = try chosen ?? FreePort.make()
        var values = [
            "DATABASE_URL": databaseURL.absoluteString, "KAFKA_BROKERS": TestStack.shared.kafkaBrokers, "SETTLE_TOPIC_PREFIX": prefix,
            "SETTLE_DISPATCHER_PORT": String(port), "SETTLE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "SETTLE_WEBHOOK_SCHEDULE_MS": "0,200,400", "SETTLE_WEBHOOK_SLOW_DOWN_MS": "300", "SETTLE_WEBHOOK_TIMEOUT_MS": "2000",
            "SETTLE_WEBHOOK_POLL_MS": "50", "SETTLE_DISPATCHER_GROUP": prefix + "group",
        ]
        for (key, value) in extra { values[key] = value }
        let process = try ChildProcess(TestStack.executable("settle-dispatcher"), [], environment: Self.environment(values))
        started.append(process)
        try await eventually("settle-dispatcher to answer /healthz") {
            guard process.isRunning else { throw Failure(description: "settle-dispatcher exited at start:\n\(process.errorTail())") }
            return (try? await ServiceEndpoint.get("http://127.0.0.1:\(port)/healthz").status) == 200
        }
        return process
    }

    // MARK: endpoints and events

    /// Creates an endpoint as the API does; returns its id and secret.
    func endpoint(_ url: String, events: [String] = ["*"], fifo: Bool = false) async throws -> (id: UUID, secret: String) {
        let new = try NewWebhookEndpoint(json: .object([
            "url": .string(url), "enabled_events": .array(events.map { .string($0) }), "fifo": .bool(fifo),
        ]))
        let secret = WebhookSecret.generate()
        let outcome = try await WebhookEndpointStore(client: database, logger: Self.logger)
            .create(merchant: merchant, new, secret: secret, claim: nil) { _ in (0, []) }
        guard case .created(let endpoint) = outcome else { throw Failure(description: "endpoint not created") }
        return (endpoint.id, secret)
    }

    /// A sink of its own with an endpoint at `path` on it, the sink knowing the endpoint's secret.
    func receiver(_ path: String) async throws -> (sink: Sink, endpoint: (id: UUID, secret: String)) {
        let sink = try await startSink()
        let endpoint = try await endpoint(sink.hooks(path))
        try await sink.setSecrets([endpoint.secret])
        return (sink, endpoint)
    }

    /// Records an event of the merchant and publishes it to `payments.v1`, as the relay would.
    @discardableResult
    func publishEvent(_ type: EventType = .paymentSucceeded, order: UUID = UUID(), id: UUID = UUIDv7.make()) async throws -> UUID {
        try await database.query("""
            INSERT INTO events (id, merchant_id, order_id, type, data) VALUES (\(id), \(merchant), \(order), \(type.rawValue), '{"n":1}')
            """, logger: Self.logger)
        try await republish(id, type: type, order: order)
        return id
    }

    /// Publishes an event's message again (Kafka may deliver one twice).
    func republish(_ id: UUID, type: EventType = .paymentSucceeded, order: UUID) async throws {
        try await producer.send(KafkaProducerMessage(
            topic: prefix + KafkaTopics.payments, key: Array(order.uuidString.lowercased().utf8), value: Array(#"{"id":"\#(id)"}"#.utf8),
            headers: [KafkaHeader(key: "event-id", value: id.uuidString.lowercased()), KafkaHeader(key: "event-type", value: type.rawValue)]))
    }

    /// Deliveries of an endpoint by status.
    func deliveries(_ endpoint: UUID) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for try await (status, count) in try await database.query("""
            SELECT status, count(*)::int FROM webhook_deliveries WHERE endpoint_id = \(endpoint) GROUP BY status
            """, logger: Self.logger).decode((String, Int).self) { counts[status] = count }
        return counts
    }

    func scalar(_ query: PostgresQuery) async throws -> Int {
        for try await value in try await database.query(query, logger: Self.logger).decode(Int.self) { return value }
        return 0
    }

    // MARK: plumbing

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func environment(_ values: [String: String]) -> [String: String] { ChildProcesses.environment(values) }

    /// Sends JSON and returns the answer's JSON object (empty when it has none).
    @discardableResult
    static func send(_ method: HTTPMethod, _ url: String, _ body: String, headers: [String: String] = [:],
                     expecting expected: HTTPResponseStatus = .ok) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
        guard response.status == expected else { throw Failure(description: "\(method) \(url): \(response.status) \(text)") }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    static func json(_ url: String) async throws -> [String: Any] {
        let answer = try await ServiceEndpoint.get(url)
        return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }
}
