import Foundation
import Synchronization

/// A child process whose standard output is collected line by line, for tests that kill
/// a real process (SIGKILL) and inspect what it did before.
public final class ChildProcess: Sendable {
    private let process: ProcessBox
    private let collector = LineCollector()

    private final class LineCollector: Sendable {
        let state = Mutex<(lines: [String], partial: String, closed: Bool)>(([], "", false))

        func close() {
            state.withLock { state in
                if !state.partial.isEmpty { state.lines.append(state.partial) }
                state.partial = ""
                state.closed = true
            }
        }

        func append(_ text: String) {
            state.withLock { state in
                var parts = (state.partial + text).components(separatedBy: "\n")
                state.partial = parts.removeLast()
                state.lines += parts
            }
        }
    }

    /// `@unchecked Sendable`: `Process` is only started and signalled, from any thread, which it permits.
    private final class ProcessBox: @unchecked Sendable {
        let process = Process()
    }

    public init(_ executable: URL, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let box = ProcessBox()
        box.process.executableURL = executable
        box.process.arguments = arguments
        box.process.environment = environment
        let pipe = Pipe()
        // Other tests spawn processes concurrently: without close-on-exec they would inherit this
        // pipe's write end and keep it open, so end of file would never come. (The child's own
        // standard output is a dup2 copy, which does not carry the flag.)
        _ = fcntl(pipe.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipe.fileHandleForReading.fileDescriptor, F_SETFD, FD_CLOEXEC)
        box.process.standardOutput = pipe
        box.process.standardError = FileHandle.standardError
        self.process = box
        pipe.fileHandleForReading.readabilityHandler = { [collector] handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return collector.close()
            }
            collector.append(String(decoding: data, as: UTF8.self))
        }
        try box.process.run()
    }

    public var pid: Int32 { process.process.processIdentifier }
    public var output: [String] { collector.state.withLock { $0.lines } }

    public func kill(_ signal: Int32 = SIGKILL) {
        _ = Foundation.kill(pid, signal)
    }

    /// True once the child's standard output reached end of file (it exited) and every line was collected.
    public var outputClosed: Bool { collector.state.withLock { $0.closed } }

    public var isRunning: Bool { Foundation.kill(pid, 0) == 0 && process.process.isRunning }
}
