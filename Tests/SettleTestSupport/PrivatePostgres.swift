import Foundation

/// A PostgreSQL server of one test's own (initdb in a temporary directory, a free loopback
/// port), for tests that stop the database: stopping the shared one would fail every other test.
public final class PrivatePostgres: Sendable {
    public let port: Int
    private let directory: URL
    private let bin: String

    public var url: URL { URL(string: "postgres://settle@127.0.0.1:\(port)/postgres")! }

    private init(port: Int, directory: URL, bin: String) {
        self.port = port
        self.directory = directory
        self.bin = bin
    }

    public static func start() async throws -> PrivatePostgres {
        let base = "/usr/lib/postgresql"
        guard let version = (try? FileManager.default.contentsOfDirectory(atPath: base))?.compactMap(Int.init).max() else {
            throw Tool.Failure(description: "PostgreSQL's server programs are not installed under \(base)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("postgres"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = PrivatePostgres(port: try FreePort.make(), directory: directory, bin: "\(base)/\(version)/bin")
        if getuid() == 0 { try await Tool.run("/bin/chown", ["postgres:postgres", directory.path]) }
        try await server.tool("initdb", ["-D", server.data, "-U", "settle", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try await server.startServer()
        return server
    }

    private var data: String { directory.appendingPathComponent("data").path }

    /// PostgreSQL refuses to run as root; as root it runs as `postgres`.
    private func tool(_ name: String, _ arguments: [String]) async throws {
        if getuid() == 0 {
            try await Tool.run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/\(name)"] + arguments)
        } else {
            try await Tool.run("\(bin)/\(name)", arguments)
        }
    }

    /// Starts the server and waits until it accepts connections.
    public func startServer() async throws {
        let options = "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off"
        try await tool("pg_ctl", ["-D", data, "-l", directory.appendingPathComponent("data/server.log").path, "-o", options, "-w", "-t", "60", "start"])
    }

    /// Stops the server at once (connections are cut, as when it crashes or is unplugged).
    public func stopServer() async throws {
        try await tool("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    }

    /// Stops the server and removes its files.
    public func destroy() async {
        try? await stopServer()
        try? FileManager.default.removeItem(at: directory)
    }
}
