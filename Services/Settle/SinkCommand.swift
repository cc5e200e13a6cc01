import ArgumentParser
import Foundation
import Hummingbird
import PostgresNIO
import ServiceLifecycle
import SettleDomain
import SettleRuntime
import SettleStorage

/// `settle sink`: a webhook receiver for the local stack, demos and chaos runs. It verifies
/// each webhook's signature, deduplicates by `webhook-id`, counts what arrived per event, and
/// can be told to fail, stall or answer 410/429 for a while. Its counts live in memory.
struct SinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink",
        abstract: "Run a webhook receiver that verifies signatures, deduplicates by webhook-id and counts deliveries."
    )

    @Option(help: "Port, on SETTLE_HOST (default 127.0.0.1) (default: SETTLE_SINK_PORT, else SETTLE_PORT_BASE + \(ServicePorts.sink)).")
    var port: Int?

    @Option(name: .customLong("secret"), help: "A whsec_… secret to verify signatures with (repeatable; also PUT /secrets).")
    var secrets: [String] = []

    @Flag(help: "Also verify with the secrets of every webhook endpoint in DATABASE_URL whose URL points at this sink (the local stack's way).")
    var secretsFromDatabase = false

    @Option(help: "The URL webhook endpoints name this sink by, for --secrets-from-database (default: http://127.0.0.1:<port>; in a container, e.g. http://settle-sink:8082).")
    var publicURL: String?

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1 to 65535") }
        if let publicURL, URL(string: publicURL)?.host == nil || !["http", "https"].contains(URL(string: publicURL)?.scheme ?? "") {
            throw ValidationError("--public-url must be an http or https URL with a host, got \"\(publicURL)\"")
        }
        if let bad = secrets.first(where: { WebhookSecret.key($0) == nil }) {
            throw ValidationError("--secret must be a whsec_ secret, got \"\(bad.prefix(12))…\"")
        }
    }

    func run() async throws {
        let name = "settle-sink"
        let portOption = port
        let secrets = self.secrets
        let fromDatabase = secretsFromDatabase
        let publicURL = self.publicURL
        await ProcessRunner.run(name) {
            try await Self.serve(name: name, port: portOption, secrets: secrets, fromDatabase: fromDatabase, publicURL: publicURL)
        }
    }

    private static func serve(name: String, port portOption: Int?, secrets: [String], fromDatabase: Bool, publicURL: String?) async throws {
        let reader = EnvironmentReader(StackEnvironment.load())
        let logger = try SettleLogging.bootstrap(service: name, environment: reader)
        let base = try reader.integer("SETTLE_PORT_BASE", default: ServicePorts.defaultBase, in: 1024...65000)
        let port = try portOption ?? reader.port("SETTLE_SINK_PORT", default: base + ServicePorts.sink)
        let databaseURL = try reader.url("DATABASE_URL", default: ServiceSettings.defaultDatabaseURL, schemes: ["postgres", "postgresql"])
        let postgres = PostgresClient(configuration: try DatabaseConfiguration.make(url: databaseURL, applicationName: name, maximumConnections: 2),
                                      backgroundLogger: ServiceHost.quiet(logger))
        let endpoints = WebhookEndpointStore(client: postgres, logger: logger)
        let host = ServiceSettings.host(reader)
        let ownURL = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "http://127.0.0.1:\(port)"
        var source: (@Sendable () async throws -> [String])?
        if fromDatabase {
            source = { try await endpoints.signingSecrets(urlsStartingWith: ownURL) }
        }
        let state = SinkState(secrets: secrets, source: source)
        let router = Router()
        router.get("/healthz") { _, _ in Response(status: .ok) }
        // Ready when it can verify: with the database as its source of secrets, when that answers.
        router.get("/readyz") { _, _ in
            guard fromDatabase else { return Response(status: .ok) }
            do {
                try await DatabaseProbe.check(postgres, timeout: .seconds(2), logger: logger)
                return Response(status: .ok)
            } catch {
                return Response(status: .serviceUnavailable)
            }
        }
        SinkController(state: state, logger: logger).addRoutes(to: router)
        let application = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: name),
                                      logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: application)], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        logger.notice("\(name) started", metadata: ["address": "\(host):\(port)", "public_url": "\(ownURL)", "secrets_from_database": "\(fromDatabase)"])
        try await withThrowingDiscardingTaskGroup { tasks in
            if fromDatabase { tasks.addTask { await postgres.run() } }
            defer { tasks.cancelAll() }
            try await group.run()
        }
    }
}
