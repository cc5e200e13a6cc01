import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SettleRedis
import SettleStorage

/// Builds the order API from its dependencies, so the executable and the tests run the same app.
enum OrderAPIApplication {
    struct Built {
        var router: Router<APIRequestContext>
        /// The group-commit service; it must run for `POST /v1/orders` to complete.
        var ingest: OrderIngest
        var routes: RouteTable
    }

    static func buildRouter(postgres: PostgresClient, redis: RedisClient?, settings: APISettings, logger: Logger) -> Built {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: MetricsMiddleware())
        let table = RouteTable()
        table.add(.get, "/openapi.yaml", to: router) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }

        let ingest = OrderIngest(writer: OrderBatchWriter(client: postgres, logger: logger), settings: settings.ingest, logger: logger)
        let orders = OrderController(
            ingest: ingest,
            orders: OrderStore(client: postgres, logger: logger),
            idempotency: IdempotentRequest(
                store: IdempotencyStore(client: postgres, logger: logger, lockTimeout: settings.idempotencyLockTimeout),
                logger: logger),
            cache: OrderCache(redis: redis, lifetime: settings.cacheLifetime, logger: logger)
        )
        let events = EventController(events: EventStore(client: postgres, logger: logger))

        let v1 = router.group("v1")
            .add(middleware: Authenticator(merchants: MerchantStore(client: postgres, logger: logger)))
            .add(middleware: RateLimitMiddleware(limiter: RateLimiter(
                redis: redis, rate: settings.rateLimit, burst: settings.rateLimitBurst, failOpen: settings.rateLimitFailOpen)))
        orders.addRoutes(to: v1, prefix: "/v1", table: table)
        events.addRoutes(to: v1, prefix: "/v1", table: table)
        return Built(router: router, ingest: ingest, routes: table)
    }
}
