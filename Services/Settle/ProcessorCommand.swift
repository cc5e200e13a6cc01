import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SettleDomain
import SettleRuntime
import SettleStorage

/// `settle processor`: the card-processor simulator (DESIGN.md "The card-processor simulator"),
/// an HTTP service standing in for a card network so every failure path of the payment worker
/// can be triggered for real. Its state lives in PostgreSQL, in a schema of its own.
struct ProcessorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "processor",
        abstract: "Run the card-processor simulator: idempotent charges and refunds, per-order counts and switchable faults."
    )

    @Option(help: "Port, on SETTLE_HOST (default 127.0.0.1) (default: SETTLE_PROCESSOR_PORT, else SETTLE_PORT_BASE + \(ServicePorts.processor), i.e. \(ServicePorts.defaultBase + ServicePorts.processor)).")
    var port: Int?

    @Option(help: "PostgreSQL schema of the simulator's state, in DATABASE_URL's database (^[a-z_][a-z0-9_]{0,62}$).")
    var schema = ProcessorSchemaName.default.description

    @Option(help: "Initial share of /charges and /refunds requests answered 503, 0 to 1.")
    var errorRate = 0.0

    @Option(help: "Initial latency added before each /charges and /refunds request, 0 to 60000 ms.")
    var latencyMs = 0

    @Option(help: "Initial share of charges after which the connection is dropped unanswered, 0 to 1.")
    var crashAfterChargeRate = 0.0

    @Option(help: "Initial share of /charges and /refunds requests answered 200 with a body that is not JSON, nothing charged, 0 to 1.")
    var garbageRate = 0.0

    func validate() throws {
        guard ProcessorSchemaName(schema) != nil else {
            throw ValidationError("--schema must match ^[a-z_][a-z0-9_]{0,62}$, got \"\(schema)\"")
        }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1 to 65535") }
        guard ProcessorFaultSettings.rateRange.contains(errorRate) else { throw ValidationError("--error-rate must be 0 to 1") }
        guard ProcessorFaultSettings.rateRange.contains(crashAfterChargeRate) else {
            throw ValidationError("--crash-after-charge-rate must be 0 to 1")
        }
        guard ProcessorFaultSettings.rateRange.contains(garbageRate) else { throw ValidationError("--garbage-rate must be 0 to 1") }
        guard ProcessorFaultSettings.latencyRange.contains(latencyMs) else { throw ValidationError("--latency-ms must be 0 to 60000") }
    }

    func run() async throws {
        let name = "settle-processor"
        let schema = ProcessorSchemaName(self.schema) ?? .default
        let initialFaults = ProcessorFaultSettings(
            errorRate: errorRate, latencyMilliseconds: latencyMs, crashAfterChargeRate: crashAfterChargeRate, garbageRate: garbageRate
        )
        let portOption = port
        await ProcessRunner.run(name) {
            let reader = EnvironmentReader(StackEnvironment.load())
            let logger = try SettleLogging.bootstrap(service: name, environment: reader)
            let base = try reader.integer("SETTLE_PORT_BASE", default: ServicePorts.defaultBase, in: 1024...65000)
            let port = try portOption ?? reader.port("SETTLE_PROCESSOR_PORT", default: base + ServicePorts.processor)
            let host = ServiceSettings.host(reader)
            let databaseURL = try reader.url("DATABASE_URL", default: ServiceSettings.defaultDatabaseURL, schemes: ["postgres", "postgresql"])
            let registry = SettleMetrics.bootstrap()
            let poolSize = try reader.integer("SETTLE_DATABASE_POOL_SIZE", default: 20, in: 1...1000)
            let postgres = PostgresClient(
                configuration: try DatabaseConfiguration.make(url: databaseURL, applicationName: name, maximumConnections: poolSize),
                backgroundLogger: ServiceHost.quiet(logger)
            )

            try await withThrowingDiscardingTaskGroup { group in
                // The pool must run for any query to complete; it stops last, after the server.
                group.addTask { await postgres.run() }
                defer { group.cancelAll() }

                try await DependencyProbe.postgres(url: databaseURL, logger: logger)
                let store = ProcessorStore(client: postgres, schema: schema, logger: logger)
                do {
                    try await store.prepare()
                } catch {
                    let cause = (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.beginError ?? $0.commitError } ?? error
                    throw StartupFailure(dependency: "PostgreSQL", address: DatabaseConfiguration.address(of: databaseURL),
                                         reason: "cannot create schema \(schema): \(DatabaseProbe.reason(cause))")
                }

                let router = Router(context: ProcessorRequestContext.self)
                router.add(middleware: ProcessorUnavailableMiddleware(logger: logger))
                OperationsRouter.add(to: router, registry: registry, readiness: [
                    ReadinessCheck(name: "PostgreSQL", address: DatabaseConfiguration.address(of: databaseURL)) {
                        try await DatabaseProbe.check(postgres, timeout: .seconds(2), logger: logger)
                    },
                ])
                ProcessorController(store: store, faults: ProcessorFaults(initialFaults), logger: logger).addRoutes(to: router)
                let application = Application(
                    router: router,
                    configuration: .init(address: .hostname(host, port: port), serverName: name),
                    logger: logger
                )
                let serviceGroup = ServiceGroup(configuration: .init(
                    services: [.init(service: application)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                ))
                logger.notice("\(name) started", metadata: [
                    "address": "\(host):\(port)", "schema": "\(schema)",
                    "error_rate": "\(initialFaults.errorRate)", "latency_ms": "\(initialFaults.latencyMilliseconds)",
                    "crash_after_charge_rate": "\(initialFaults.crashAfterChargeRate)", "garbage_rate": "\(initialFaults.garbageRate)",
                ])
                try await serviceGroup.run()
                logger.notice("\(name) stopped")
            }
        }
    }
}
