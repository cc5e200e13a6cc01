import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import SettleRedis
import SettleStorage

/// The skeleton every Settle service runs in: configuration, JSON logs, metrics, start-up
/// checks of its stores, migrations, then one `ServiceGroup` with the operations server
/// (`/healthz`, `/readyz`, `/metrics`) and the service's own work, stopped gracefully on
/// SIGTERM or SIGINT.
public struct ServiceHost: Sendable {
    public struct Needs: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let redis = Needs(rawValue: 1)
        public static let kafka = Needs(rawValue: 2)
    }

    /// What a service gets to build its work from.
    public struct Context: Sendable {
        public var settings: ServiceSettings
        public var environment: EnvironmentReader
        public var logger: Logger
        public var postgres: PostgresClient
        public var redis: RedisClient?
        public var registry: PrometheusCollectorRegistry
        /// Checks the service adds to `/readyz`. A service that adds one named "Kafka" (through
        /// its own client) replaces the generic probe, which makes a Kafka client per probe.
        public var readiness: ReadinessRegistry

        public init(settings: ServiceSettings, environment: EnvironmentReader, logger: Logger, postgres: PostgresClient,
                    redis: RedisClient?, registry: PrometheusCollectorRegistry, readiness: ReadinessRegistry = ReadinessRegistry()) {
            self.settings = settings
            self.environment = environment
            self.logger = logger
            self.postgres = postgres
            self.redis = redis
            self.registry = registry
            self.readiness = readiness
        }
    }

    public var name: String
    public var portVariable: String
    public var defaultPort: Int
    public var needs: Needs
    /// Histogram buckets of the service's value recorders, by metric label.
    public var valueBuckets: [String: [Double]]

    public init(name: String, portVariable: String, defaultPort: Int, needs: Needs, valueBuckets: [String: [Double]] = [:]) {
        self.name = name
        self.portVariable = portVariable
        self.defaultPort = defaultPort
        self.needs = needs
        self.valueBuckets = valueBuckets
    }

    /// Runs until SIGTERM/SIGINT. `services` builds the service's own work (none yet for most).
    public func run(services: @Sendable (Context) throws -> [any Service] = { _ in [] }) async {
        await run(context: BasicRequestContext.self) { context in
            (Router(context: BasicRequestContext.self), try services(context))
        }
    }

    /// Runs until SIGTERM/SIGINT. `application` builds the service's router (its own routes and
    /// middleware; the operations routes are added to it) and its other services.
    public func run<RouteContext: RequestContext>(
        context: RouteContext.Type,
        application build: @Sendable (Context) throws -> (Router<RouteContext>, [any Service])
    ) async where RouteContext.Source == ApplicationRequestContextSource {
        await ProcessRunner.run(name) {
            let environment = EnvironmentReader()
            let logger = try SettleLogging.bootstrap(service: name, environment: environment)
            let settings = try ServiceSettings(environment: environment, portVariable: portVariable, defaultPort: defaultPort)
            let registry = SettleMetrics.bootstrap(valueBuckets: valueBuckets)
            let tracing = try SettleTracing.bootstrap(service: name, logger: logger)
            let postgres = PostgresClient(
                configuration: try DatabaseConfiguration.make(url: settings.databaseURL, applicationName: name,
                                                              maximumConnections: settings.databasePoolSize),
                backgroundLogger: Self.quiet(logger)
            )
            let redis = needs.contains(.redis) ? try RedisClient(url: settings.redisURL, logger: logger) : nil

            try await withThrowingDiscardingTaskGroup { group in
                // The pool must run for any query to complete; it stops last, after the group below.
                group.addTask { await postgres.run() }
                defer { group.cancelAll() }

                try await DependencyProbe.postgres(url: settings.databaseURL, logger: logger)
                if let redis { try await DependencyProbe.redis(redis) }
                if needs.contains(.kafka) { try await DependencyProbe.kafka(settings.kafkaBrokers) }
                try await Migrator(client: postgres, logger: logger).migrate()

                let context = Context(settings: settings, environment: environment, logger: logger,
                                      postgres: postgres, redis: redis, registry: registry, readiness: ReadinessRegistry())
                let (router, services) = try build(context)
                OperationsRouter.add(to: router, registry: registry, readiness: readiness(context))
                let application = Application(
                    router: router,
                    configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: name),
                    logger: logger
                )
                // The tracer first, so it stops last and exports the final spans.
                var all: [any Service] = [tracing]
                if let redis { all.append(redis) }
                all += services
                all.append(application)
                let serviceGroup = ServiceGroup(configuration: .init(
                    services: all.map { .init(service: $0) },
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                ))
                logger.notice("\(name) started", metadata: ["address": "\(settings.host):\(settings.port)"])
                try await serviceGroup.run()
                logger.notice("\(name) stopped")
            }
        }
    }

    /// postgres-nio logs every failed connection attempt at info; only warnings reach our logs.
    public static func quiet(_ logger: Logger) -> Logger {
        var quiet = logger
        quiet.logLevel = .warning
        return quiet
    }

    private func readiness(_ context: Context) -> [ReadinessCheck] {
        var checks = [ReadinessCheck(name: "PostgreSQL", address: DatabaseConfiguration.address(of: context.settings.databaseURL)) {
            try await DatabaseProbe.check(context.postgres, timeout: .seconds(2), logger: context.logger)
        }]
        if let redis = context.redis {
            checks.append(ReadinessCheck(name: "Redis", address: redis.address) { try await redis.ping() })
        }
        let own = context.readiness.all
        checks += own
        if needs.contains(.kafka), !own.contains(where: { $0.name == "Kafka" }) {
            let brokers = context.settings.kafkaBrokers
            checks.append(ReadinessCheck(name: "Kafka", address: brokers) { try await DependencyProbe.kafka(brokers, timeout: .seconds(2)) })
        }
        return checks
    }
}
