import ArgumentParser
import Foundation
import PostgresNIO
import SettleRuntime
import SettleStorage

/// `settle backup`: PostgreSQL's database, dumped whole with `pg_dump` (the orders, events,
/// outbox, the consumers' inboxes, webhook deliveries and the simulator's records), plus a
/// manifest of what it holds. That is all the consumers need to resume: Kafka's topics are
/// rebuilt from the events table on restore (`settle restore`), and the inboxes make every
/// event handled before the backup a no-op when it arrives again.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up Settle's database (pg_dump, custom format) and a manifest of what it holds, into a new folder."
    )

    @Option(help: "The folder to write (must not exist); default .settle/backups/backup-<time>.")
    var to: String?

    func run() async throws {
        let environment = StackEnvironment.load()
        let folder = to.map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? StackEnvironment.directory(environment: environment).appendingPathComponent("backups")
                .appendingPathComponent(LoadReport.stamp("backup", Date()))
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("\(folder.path) exists: a backup goes into a new folder")
        }
        let url = try CLIDatabase.databaseURL(environment)
        let counts = try await BackupManifest.counts(environment: environment)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let dump = folder.appendingPathComponent(BackupManifest.dumpFile)
        // A consistent snapshot (one repeatable-read transaction) while the services run.
        try await PostgresTools.run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", "--file", dump.path, "--dbname", url.absoluteString])
        let manifest = BackupManifest(createdAt: Date(), database: DatabaseConfiguration.address(of: url), counts: counts)
        try manifest.write(to: folder)
        print("backed up \(DatabaseConfiguration.address(of: url)) to \(folder.path): " + manifest.summary)
        print("restore it with: settle restore --from \(folder.path)")
    }
}

/// What a backup folder holds besides the dump: when it was taken, from where, and its row
/// counts (a restore checks them).
struct BackupManifest: Codable, Equatable {
    static let dumpFile = "settle.dump"
    static let file = "manifest.json"
    /// The tables whose rows a restore must bring back, counted.
    static let countedTables = ["merchants", "orders", "events", "inbox", "webhook_endpoints", "webhook_deliveries"]

    var createdAt: Date
    var database: String
    var counts: [String: Int]

    var summary: String { Self.summary(counts) }

    static func summary(_ counts: [String: Int]) -> String {
        countedTables.map { "\(counts[$0] ?? 0) \($0)" }.joined(separator: ", ")
    }

    static func counts(environment: [String: String]) async throws -> [String: Int] {
        try await CLIDatabase.with(environment: environment, name: "settle-backup") { client, logger in
            var counts: [String: Int] = [:]
            for table in countedTables {
                // Table names from the fixed list above, never from input.
                let query = PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)")
                for try await count in try await client.query(query, logger: logger).decode(Int.self) { counts[table] = count }
            }
            return counts
        }
    }

    func write(to folder: URL) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: folder.appendingPathComponent(Self.file))
    }

    static func read(from folder: URL) throws -> BackupManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let data: Data
        do {
            data = try Data(contentsOf: folder.appendingPathComponent(file))
        } catch {
            throw ValidationError("\(folder.path) holds no \(file): not a backup of settle backup")
        }
        guard let manifest = try? decoder.decode(BackupManifest.self, from: data) else {
            throw ValidationError("\(folder.appendingPathComponent(file).path) is not a backup manifest")
        }
        return manifest
    }
}

/// PostgreSQL's client programs of the installed server's version (Debian's postgresql package).
enum PostgresTools {
    static func path(_ tool: String) throws -> String {
        if let bin = LocalPostgres.binDirectory, FileManager.default.isExecutableFile(atPath: "\(bin)/\(tool)") { return "\(bin)/\(tool)" }
        if let found = LocalProcess.which(tool) { return found }
        throw ValidationError("\(tool) is not installed (apt-get install postgresql-client)")
    }

    /// Runs one with a database URL among its arguments; a failure names the tool and what it
    /// printed, never the arguments (the URL may carry a password).
    static func run(_ tool: String, _ arguments: [String]) async throws {
        let executable = try path(tool)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("settle-\(tool)-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        do {
            try await LocalProcess.runOffPool(executable, arguments, log: log)
        } catch {
            let printed = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw ValidationError("\(tool) failed: \(printed.trimmingCharacters(in: .whitespacesAndNewlines).suffix(2_000))")
        }
    }
}
