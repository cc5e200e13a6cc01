import Foundation
import Synchronization

/// A redis-server of one test's own on a free loopback port, so stopping it disturbs no other test.
public final class PrivateRedisServer: Sendable {
    public let port: Int
    private let directory: URL
    private let child = Mutex<ChildProcess?>(nil)

    public init() throws {
        port = try FreePort.make()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("redis"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    public func start() throws {
        let process = try ChildProcess(URL(fileURLWithPath: "/usr/bin/redis-server"), [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path,
        ])
        child.withLock { $0 = process }
    }

    /// Kills the server and waits until it is gone.
    public func stop() async throws {
        guard let process = child.withLock({ state in defer { state = nil }; return state }) else { return }
        process.kill(SIGKILL)
        try await eventually("redis-server to exit") { process.outputClosed }
    }

    deinit {
        child.withLock { $0?.kill(SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }
}
