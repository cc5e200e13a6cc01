import Foundation
import NIOPosix
import SettleRuntime

/// Starting, finding and stopping the local stack's processes, always by PID.
enum LocalProcess {
    typealias Failure = ProcessSpawner.Failure

    /// Runs a command to completion; its output goes to `log`, or is captured and returned.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], log: URL? = nil, allowFailure: Bool = false) throws -> String {
        let capture = log == nil ? FileManager.default.temporaryDirectory.appendingPathComponent("settle-\(UUID().uuidString).out") : nil
        let output = capture ?? log!
        let status = try ProcessSpawner.run(executable, arguments, output: output)
        let captured = capture.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? ""
        if let capture { try? FileManager.default.removeItem(at: capture) }
        if status != 0 && !allowFailure {
            let detail = log.map { "see \($0.path)" } ?? captured.trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.joined(separator: " ")) failed: \(detail)")
        }
        return captured
    }

    /// `run` on NIO's blocking-I/O thread pool, for a command that takes long (a build):
    /// waiting for it must not hold one of Swift's cooperative threads.
    @discardableResult
    static func runOffPool(_ executable: String, _ arguments: [String], log: URL? = nil) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { try run(executable, arguments, log: log) }
    }

    /// Starts a long-running process in a session of its own, so it outlives `settle up`;
    /// returns its PID (setsid execs the program in place).
    @discardableResult
    static func spawnDetached(_ executable: String, _ arguments: [String], log: URL, environment: [String: String]? = nil) throws -> Int32 {
        try ProcessSpawner.start("/usr/bin/setsid", [executable] + arguments, output: log, environment: environment)
    }

    static func appendHandle(_ url: URL) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        return handle
    }

    /// Whether `pid` runs. A process that ended but was not reaped yet (a zombie) still
    /// answers `kill(pid, 0)`, and a killed service's parent is whatever reaps orphans, which can
    /// take seconds: a zombie counts as gone, and a child of this process (`settle chaos`
    /// restarts services as its own children) is reaped here.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        guard kill(pid, 0) == 0 else { return false }
        // /proc/<pid>/stat: "pid (comm) S …"; the state follows the last ')'.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }

    /// The PID in the first line of a PID file, if that process is alive and its command line mentions `expected`
    /// (so a recycled PID is never signalled).
    static func livePID(from file: URL, expecting expected: String) -> Int32? {
        guard let text = try? String(contentsOf: file, encoding: .utf8),
              let first = text.split(whereSeparator: \.isNewline).first,
              let pid = Int32(first.trimmingCharacters(in: .whitespaces).split(separator: "=").last ?? ""),
              isAlive(pid) else { return nil }
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let command = String(decoding: cmdline.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        return command.contains(expected) ? pid : nil
    }

    /// Sends `signal`, waits for exit (on a deadline), then SIGKILL.
    static func stop(_ pid: Int32, signal: Int32 = SIGTERM, grace: Duration = .seconds(15)) async -> Bool {
        kill(pid, signal)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if !isAlive(pid) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        kill(pid, SIGKILL)
        return false
    }

    /// Waits until `condition` holds or the deadline passes.
    static func wait(for grace: Duration, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return await condition()
    }

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories: [String] = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for directory in directories {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
