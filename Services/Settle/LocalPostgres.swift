import Foundation

/// The local stack's PostgreSQL: a cluster under `.settle/postgres`, TCP on loopback only,
/// trust authentication for the `settle` role (a development database, never exposed).
struct LocalPostgres {
    let layout: StackLayout

    var binDirectory: String? { Self.binDirectory }

    /// The newest installed server's programs (Debian's postgresql package).
    static var binDirectory: String? {
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base))?.compactMap(Int.init).sorted() ?? []
        return versions.last.map { "\(base)/\($0)/bin" }
    }

    /// PostgreSQL refuses to run as root: as root, its files belong to (and it runs as) `postgres`.
    private var runAsPostgresUser: Bool { getuid() == 0 }

    private func command(_ tool: String, _ arguments: [String]) throws -> (String, [String]) {
        guard let bin = binDirectory else { throw LocalProcess.Failure(description: "PostgreSQL's server programs are not installed") }
        if runAsPostgresUser {
            return ("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/\(tool)"] + arguments)
        }
        return ("\(bin)/\(tool)", arguments)
    }

    var pid: Int32? {
        LocalProcess.livePID(from: layout.postgresData.appendingPathComponent("postmaster.pid"), expecting: "postgres")
    }

    func start() throws {
        let data = layout.postgresData
        if !FileManager.default.fileExists(atPath: data.appendingPathComponent("PG_VERSION").path) {
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            try chownForPostgres(data)
            let (tool, arguments) = try command("initdb", ["-D", data.path, "-U", "settle", "--auth=trust", "-E", "UTF8", "--no-instructions"])
            try LocalProcess.run(tool, arguments, log: layout.log("postgres-initdb"))
        }
        if pid == nil { try startServer() }
        try createDatabase()
    }

    private func startServer() throws {
        let data = layout.postgresData
        let logFile = layout.log("postgres")
        if !FileManager.default.fileExists(atPath: logFile.path) { _ = FileManager.default.createFile(atPath: logFile.path, contents: nil) }
        try chownForPostgres(logFile)
        // pg_stat_statements is loaded so a benchmark or a slow stack can be asked which statements cost what.
        let options = "-p \(layout.postgresPort) -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=500"
            + " -c shared_preload_libraries=pg_stat_statements"
        let (tool, arguments) = try command("pg_ctl", ["-D", data.path, "-l", logFile.path, "-o", options, "-w", "-t", "60", "start"])
        try LocalProcess.run(tool, arguments, log: layout.log("postgres-ctl"))
    }

    private func createDatabase() throws {
        let psql = try command("psql", ["-h", "127.0.0.1", "-p", "\(layout.postgresPort)", "-U", "settle", "-d", "postgres", "-tAc",
                                        "SELECT 1 FROM pg_database WHERE datname = 'settle'"])
        let exists = try LocalProcess.run(psql.0, psql.1).contains("1")
        if !exists {
            let create = try command("createdb", ["-h", "127.0.0.1", "-p", "\(layout.postgresPort)", "-U", "settle", "settle"])
            try LocalProcess.run(create.0, create.1)
        }
    }

    /// The `postgres` user needs to own its data and log, and to reach them.
    private func chownForPostgres(_ url: URL) throws {
        guard runAsPostgresUser else { return }
        try LocalProcess.run("/bin/chown", ["-R", "postgres:postgres", url.path])
        var parent = url.deletingLastPathComponent()
        // Let the postgres user traverse (not read) the checkout's directories down to .settle.
        while parent.path != "/" {
            _ = try? LocalProcess.run("/bin/chmod", ["o+x", parent.path], allowFailure: true)
            parent.deleteLastPathComponent()
        }
    }
}
