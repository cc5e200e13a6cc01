import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Prometheus
import SettleDomain
import SettleRedis
import SettleRuntime
import SettleStorage
import SettleTestSupport
@testable import OrderAPI

/// The order API served on a real socket (Hummingbird's `.live`), over a real PostgreSQL and
/// Redis: the local stack's, or a test's private ones.
struct APIHarness: Sendable {
    /// The live server's port; requests go through AsyncHTTPClient's pool, so concurrent
    /// requests really run concurrently (the test framework's client has one connection).
    let port: Int
    let database: PostgresClient
    let redis: RedisClient
    /// The routes the API registered.
    let routes: RouteTable

    static let logger: Logger = {
        var logger = Logger(label: "settle-api-tests")
        // SETTLE_TEST_LOG=debug shows what the API logs during a test.
        logger.logLevel = ProcessInfo.processInfo.environment["SETTLE_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()

    /// Runs `body` against a live API. `environment` overrides the API's settings
    /// (e.g. `SETTLE_RATE_LIMIT`).
    /// - Parameter databaseURL: the database to run on; by default one of the test's own, so the
    ///   stack's relays and payment workers never see (and charge) the test's orders.
    static func run(
        environment: [String: String] = [:],
        databaseURL: URL? = nil,
        redis: (host: String, port: Int)? = nil,
        _ body: @Sendable (APIHarness) async throws -> Void
    ) async throws {
        guard let databaseURL else {
            return try await TestDatabase.with(migrated: true) { _, url in
                try await run(environment: environment, databaseURL: url, redis: redis, body)
            }
        }
        let endpoint = redis ?? RedisEndpoint(url: TestStack.shared.redisURL).map { ($0.host, $0.port) }!
        // The environment the API reads in production, with this test's stores and overrides.
        var values = ["DATABASE_URL": databaseURL.absoluteString, "REDIS_URL": "redis://\(endpoint.host):\(endpoint.port)",
                      "SETTLE_DATABASE_POOL_SIZE": "4"]
        for (key, value) in environment { values[key] = value }
        let reader = EnvironmentReader(values)
        let serviceSettings = try ServiceSettings(environment: reader, portVariable: "SETTLE_API_PORT", defaultPort: 0)
        let postgres = PostgresClient(
            configuration: try DatabaseConfiguration.make(url: databaseURL, applicationName: "settle-api-tests",
                                                          maximumConnections: serviceSettings.databasePoolSize),
            backgroundLogger: logger)
        let redisClient = RedisClient(host: endpoint.host, port: endpoint.port, logger: logger)
        let built = try OrderAPIApplication.build(ServiceHost.Context(
            settings: serviceSettings, environment: reader, logger: logger, postgres: postgres, redis: redisClient,
            registry: PrometheusCollectorRegistry()))
        let app = Application(
            router: built.router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            services: [postgres, redisClient] + built.services,
            logger: logger
        )
        let routes = built.routes
        try await app.test(.live) { client in
            try await Migrator(client: postgres, logger: logger).migrate()
            try await body(APIHarness(port: client.port!, database: postgres, redis: redisClient, routes: routes))
        }
    }

    struct Merchant: Sendable {
        var id: UUID
        var key: String
    }

    func merchant() async throws -> Merchant {
        let created = try await MerchantStore(client: database, logger: Self.logger).create(name: UniqueName.make("merchant"))
        return Merchant(id: created.id, key: created.apiKey)
    }

    /// One request. A 503 that tells the client to try again (`database_unavailable`, or
    /// `outcome_unknown` for a request with an Idempotency-Key) is retried as a client would,
    /// up to three times, when the request is safe to repeat (a GET, or one with a key): a test
    /// of something else should not fail because a loaded machine kept PostgreSQL from
    /// answering within the API's deadline. Tests of those answers pass `retryingUnavailable: false`.
    func request(
        _ method: HTTPRequest.Method, _ uri: String, as merchant: Merchant?, body: String? = nil,
        contentType: String? = "application/json", idempotencyKey: String? = nil, headers extra: [String: String] = [:],
        retryingUnavailable: Bool = true
    ) async throws -> APIResponse {
        var response = try await send(method, uri, as: merchant, body: body, contentType: contentType, idempotencyKey: idempotencyKey, headers: extra)
        let repeatable = method == .get || idempotencyKey != nil
        var retries = 0
        while retryingUnavailable, repeatable, retries < 3,
              RetryableAnswer.asksForRetry(status: response.status.code, code: response.problemCode, keyed: idempotencyKey != nil) {
            retries += 1
            try await Task.sleep(for: .milliseconds(500))  // the client's back-off, as Retry-After asks
            response = try await send(method, uri, as: merchant, body: body, contentType: contentType, idempotencyKey: idempotencyKey, headers: extra)
        }
        return response
    }

    private func send(
        _ method: HTTPRequest.Method, _ uri: String, as merchant: Merchant?, body: String?,
        contentType: String?, idempotencyKey: String?, headers extra: [String: String]
    ) async throws -> APIResponse {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(uri)")
        request.method = .init(rawValue: method.rawValue)
        if let merchant { request.headers.add(name: "Authorization", value: "Bearer \(merchant.key)") }
        if let body {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(string: body))
        }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        var headers = HTTPFields()
        for (name, value) in response.headers {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        return APIResponse(status: HTTPResponse.Status(code: Int(response.status.code)), headers: headers,
                           body: try await response.body.collect(upTo: 1 << 20))
    }

    /// Creates an order and returns its JSON object.
    func createOrder(_ merchant: Merchant, amount: Int = 1_000, method: String = "pm_card_ok") async throws -> [String: Any] {
        let response = try await request(.post, "/v1/orders", as: merchant,
                                         body: #"{"amount":\#(amount),"currency":"usd","payment_method":"\#(method)"}"#)
        guard response.status == .created else { throw UnexpectedResponse(response) }
        return try response.json()
    }

    /// How many orders the merchant has in the database.
    /// Sessions of the test's database waiting for a lock.
    func ordersLockWaiters() async throws -> Int {
        let rows = try await database.query(
            "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            logger: Self.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    func orderCount(_ merchant: Merchant) async throws -> Int {
        let rows = try await database.query("SELECT count(*) FROM orders WHERE merchant_id = \(merchant.id)", logger: Self.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}

/// A response as the tests read it.
struct APIResponse: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer
}

struct UnexpectedResponse: Error, CustomStringConvertible {
    var description: String
    init(_ response: APIResponse) {
        description = "\(response.status): \(String(buffer: response.body))"
    }
}

extension APIResponse {
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw UnexpectedResponse(self)
        }
        return object
    }

    /// The problem document's `code`, or nil when the body is not one.
    var problemCode: String? {
        guard headers[.contentType] == "application/problem+json" else { return nil }
        return (try? json())?["code"] as? String
    }

    var problemParam: String? { (try? json())?["param"] as? String }

    var bytes: [UInt8] { Array(body.readableBytesView) }
}
