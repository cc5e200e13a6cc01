import Foundation

/// Starts programs with posix_spawn and waits for them with waitpid. Foundation's `Process`
/// can miss the exit of a child whose own children outlive it (as `pg_ctl start`'s server
/// does); this cannot. Waiting blocks the calling thread: call it from a thread of its own,
/// never from Swift's cooperative pool.
public enum ProcessSpawner {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// Runs `executable` to its end with stdin from /dev/null and stdout/stderr appended to
    /// `output` (or discarded); returns its exit status (128 + signal if killed).
    public static func run(_ executable: String, _ arguments: [String], output: URL?, environment: [String: String]? = nil) throws -> Int32 {
        let pid = try start(executable, arguments, output: output, environment: environment)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS, spelled out: Swift does not import the macros.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift does
    /// not import (it is a GNU extension): looked up by name, nil where it is missing.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// Starts `executable` like `run` and returns its PID without waiting.
    public static func start(_ executable: String, _ arguments: [String], output: URL?, environment: [String: String]? = nil) throws -> pid_t {
        let path = output?.path ?? "/dev/null"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        // Nothing else of this process's reaches the child: a service started by `settle up`
        // or `settle chaos` would otherwise hold their HTTP and database connections open.
        _ = addCloseFrom?(&actions, 3)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let result = envp.map { posix_spawn(&pid, executable, &actions, nil, argv, $0) } ?? posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw Failure(description: "cannot start \(executable): \(String(cString: strerror(result)))") }
        return pid
    }
}
