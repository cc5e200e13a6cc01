import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SettleDomain
import SettleRedis
import SettleRuntime
import SettleStorage

/// Builds the order API from its dependencies, so the executable and the tests run the same app.
enum OrderAPIApplication {
    struct Built {
        var router: Router<APIRequestContext>
        /// The services the routes need running: group commit (`POST /v1/orders` completes only
        /// while it runs) and the retention of history partitions.
        var services: [any Service]
        var routes: RouteTable
    }

    /// Everything `settle-api` runs inside `ServiceHost` (which brings configuration, logs,
    /// metrics, the stores' clients and the operations routes): its settings read from the
    /// environment, the asynchronous-commit pool for idempotency claims, the routes and the
    /// services they need. `main` and the test harness both call this, so the tests run the
    /// configuration production runs.
    static func build(_ context: ServiceHost.Context) throws -> Built {
        let settings = try APISettings(environment: context.environment)
        let claims = PostgresClient(
            configuration: try DatabaseConfiguration.make(url: context.settings.databaseURL, applicationName: "settle-api-claims",
                                                          synchronousCommit: false, maximumConnections: context.settings.databasePoolSize),
            backgroundLogger: ServiceHost.quiet(context.logger)
        )
        var built = buildRouter(postgres: context.postgres, claims: claims, redis: context.redis, settings: settings, logger: context.logger)
        built.services.insert(claims, at: 0)
        return built
    }

    /// - Parameter claims: the client for idempotency claims, which may commit asynchronously
    ///   (see `IdempotencyStore`); `postgres` when nil.
    private static func buildRouter(postgres: PostgresClient, claims: PostgresClient? = nil, redis: RedisClient?, settings: APISettings, logger: Logger) -> Built {
        let router = Router(context: APIRequestContext.self)
        let table = RouteTable()
        router.add(middleware: RequestSpanMiddleware())
        router.add(middleware: ProblemMiddleware(routes: table))
        router.add(middleware: RequestMetricsMiddleware())
        table.add(.get, "/openapi.yaml", to: router) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }

        let ingest = OrderIngest(writer: OrderBatchWriter(client: postgres, logger: logger, keyLockTimeout: settings.idempotencyLockTimeout), settings: settings.ingest, logger: logger)
        let deadline = settings.statementDeadline
        let keys = IdempotencyStore(client: claims ?? postgres, logger: logger, lockTimeout: settings.idempotencyLockTimeout,
                                    statementDeadline: deadline)
        let orders = OrderController(
            ingest: ingest,
            orders: OrderStore(client: postgres, logger: logger, statementDeadline: deadline),
            idempotency: IdempotentRequest(store: keys, logger: logger),
            cache: OrderCache(redis: redis, lifetime: settings.cacheLifetime, logger: logger)
        )
        let events = EventController(events: EventStore(client: postgres, logger: logger, statementDeadline: deadline))
        let webhookEndpoints = WebhookEndpointController(
            endpoints: WebhookEndpointStore(client: postgres, logger: logger, statementDeadline: deadline),
            destination: WebhookDestination(policy: settings.webhookAddresses),
            idempotency: IdempotentRequest(store: keys, logger: logger)
        )
        let webhookDeliveries = WebhookDeliveryController(
            deliveries: WebhookDeliveryStore(client: postgres, logger: logger, statementDeadline: deadline), idempotency: IdempotentRequest(store: keys, logger: logger))

        let apiKeys = APIKeyStore(client: postgres, logger: logger, statementDeadline: deadline)
        let keyCache = APIKeyCache(lifetime: settings.apiKeyCacheLifetime, fallbackLifetime: settings.apiKeyCacheFallbackLifetime)
        let keyUsage = APIKeyUsage(keys: apiKeys, logger: logger)
        let authenticator = Authenticator(
            keys: apiKeys, cache: keyCache, usage: keyUsage,
            failures: RateLimiter(redis: redis, rate: Double(settings.authFailuresPerMinute) / 60, burst: settings.authFailureBurst,
                                  failOpen: true, keyspace: "settle:authfail:", metric: "settle_api_auth_failure_limit_decisions_total"),
            clientAddress: ClientAddress(trustedProxies: settings.trustedProxies))
        let v1 = router.group("v1")
            .add(middleware: NoStoreMiddleware())
            .add(middleware: authenticator)
            .add(middleware: RateLimitMiddleware(limiter: RateLimiter(
                redis: redis, rate: Double(settings.rateLimit), burst: settings.rateLimitBurst, failOpen: settings.rateLimitFailOpen,
                lease: settings.rateLimitLease)))
        orders.addRoutes(to: v1, prefix: "/v1", table: table)
        events.addRoutes(to: v1, prefix: "/v1", table: table)
        webhookEndpoints.addRoutes(to: v1, prefix: "/v1", table: table)
        webhookDeliveries.addRoutes(to: v1, prefix: "/v1", table: table)
        APIKeyController(keys: apiKeys, cache: keyCache, redis: redis, idempotency: IdempotentRequest(store: keys, logger: logger))
            .addRoutes(to: v1, prefix: "/v1", table: table)
        let retention = HistoryRetention(partitions: HistoryPartitions(client: postgres, logger: logger),
                                         deadLetters: DeadLetterStore(client: postgres, logger: logger), retention: settings.retention,
                                         interval: settings.retentionInterval, logger: logger)
        var services: [any Service] = [ingest, retention, keyUsage]
        if let redis {
            services.append(APIKeyChangeListener(cache: keyCache, subscriber: RedisSubscriber(host: redis.host, port: redis.port, logger: logger),
                                                 logger: logger))
        }
        return Built(router: router, services: services, routes: table)
    }
}
