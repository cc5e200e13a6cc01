import ArgumentParser
import Foundation
import PostgresNIO
import SettleDomain
import SettleRuntime
import SettleStorage

/// `settle restore`: a backup of `settle backup` into the local stack, whose PostgreSQL, Redis
/// and broker may be new (a fresh cluster). It stops the stack's services, replaces the
/// database with the backup's (`pg_restore`), applies newer migrations, puts every event back
/// into the outbox so the relays rebuild Kafka's topics from it (consumers skip what their
/// inboxes say they handled, so nothing is charged or delivered twice), empties Redis' cache,
/// and starts the services again. It checks the restored rows against the backup's manifest.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace the local stack's database with a backup of settle backup, rebuild Kafka's topics from its events, and restart the services."
    )

    @Option(help: "The backup folder settle backup wrote.")
    var from: String

    func run() async throws {
        let folder = URL(fileURLWithPath: from, isDirectory: true)
        let manifest = try BackupManifest.read(from: folder)
        let dump = folder.appendingPathComponent(BackupManifest.dumpFile)
        guard FileManager.default.fileExists(atPath: dump.path) else { throw ValidationError("\(dump.path) is missing") }
        let environment = StackEnvironment.load()
        let layout = try StackLayout(environment: environment)
        guard LocalPostgres(layout: layout).pid != nil, let redisURL = environment["REDIS_URL"] else {
            throw ValidationError("no local stack runs here: run `settle up` first")
        }
        let url = try CLIDatabase.databaseURL(environment)

        await LocalService.stopAll(layout)
        try await Self.recreate(database: url, environment: environment)
        try await PostgresTools.run("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--dbname", url.absoluteString, dump.path])
        try await MigrateCommand.migrate(environment: environment)
        let counts = try await BackupManifest.counts(environment: environment)
        let requeued = try await Self.requeueEvents(environment: environment)
        if let broker = await Verifier.brokerStartedAt(environment) { try layout.markRestored(forBrokerStartedAt: broker) }
        try await LocalProcess.runOffPool(try Self.redisCLI(), ["-u", redisURL, "FLUSHDB"])
        print("restored the backup of \(manifest.createdAt.formatted(.iso8601)) (\(manifest.database)): " + BackupManifest.summary(counts))
        print("\(requeued) events queued in the outbox again, to rebuild Kafka's topics; Redis' cache emptied")

        _ = try await DemoAccount.ensure(file: layout.demoEnv, environment: environment,
                                         sinkURL: "http://127.0.0.1:\(layout.portBase + ServicePorts.sink)")
        for service in LocalService.all {
            try await service.start(layout, environment: environment)
        }
        print("the services run again on the restored database")
        let missing = BackupManifest.countedTables.filter { (counts[$0] ?? 0) != (manifest.counts[$0] ?? 0) }
        if !missing.isEmpty {
            print("the restored rows differ from the backup's manifest: " + missing.map {
                "\($0) \(counts[$0] ?? 0), expected \(manifest.counts[$0] ?? 0)"
            }.joined(separator: "; "))
            throw ExitCode(1)
        }
    }

    /// Drops and creates the database `url` names, on its server's `postgres` database.
    static func recreate(database url: URL, environment: [String: String]) async throws {
        let name = String(url.path.drop { $0 == "/" })
        // An identifier cannot be a bind parameter: only a plain lower-case name is accepted.
        guard name.range(of: #"^[a-z_][a-z0-9_]{0,62}$"#, options: .regularExpression) != nil else {
            throw ValidationError("the database name in DATABASE_URL must match ^[a-z_][a-z0-9_]{0,62}$ to be restored into")
        }
        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        components?.path = "/postgres"
        guard let server = components?.url else { throw ValidationError("DATABASE_URL is not a URL") }
        var admin = environment
        admin["DATABASE_URL"] = server.absoluteString
        try await CLIDatabase.with(environment: admin, name: "settle-restore") { client, logger in
            do {
                try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)"), logger: logger)
                try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
            } catch {
                throw ValidationError("cannot replace database \(name): \(DatabaseProbe.reason(error))")
            }
        }
    }

    static func requeueEvents(environment: [String: String]) async throws -> Int {
        try await CLIDatabase.with(environment: environment, name: "settle-restore") { client, logger in
            do {
                return try await EventWriter.requeueAll(client: client, logger: logger)
            } catch {
                throw ValidationError("cannot queue the events again: \(DatabaseProbe.reason(error))")
            }
        }
    }

    static func redisCLI() throws -> String {
        guard let path = LocalProcess.which("redis-cli") else { throw ValidationError("redis-cli is not installed (apt-get install redis-tools)") }
        return path
    }
}
