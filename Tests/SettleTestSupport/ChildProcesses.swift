import Foundation
import Synchronization

/// The child processes one test started, each registered as soon as it runs, so that
/// whatever fails, none is left running when the test ends.
public final class ChildProcesses: Sendable {
    private let list = Mutex<[ChildProcess]>([])

    public init() {}

    public func append(_ child: ChildProcess) { list.withLock { $0.append(child) } }

    public var all: [ChildProcess] { list.withLock { $0 } }

    /// SIGKILLs every child still running and waits until each has exited.
    public func stopAll() async {
        let all = self.all
        for child in all where child.isRunning { child.kill(SIGKILL) }
        try? await eventually("the test's processes to exit") { all.allSatisfy(\.outputClosed) }
    }

    /// The test process's environment with `values` over it, for a Settle service a test starts:
    /// errors-only logs, and small database pools, since the tests run side by side on one
    /// PostgreSQL server and must stay under its connection limit.
    public static func environment(_ values: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["SETTLE_LOG_LEVEL"] = "error"
        environment["SETTLE_DATABASE_POOL_SIZE"] = "4"
        for (key, value) in values { environment[key] = value }
        return environment
    }
}
