import Foundation
import Synchronization

/// A child process whose standard output is collected line by line, for tests that kill
/// a real process (SIGKILL) and inspect what it did before.
///
/// The output goes to a file, not a pipe. A pipe's reader sees end of file only when every
/// copy of its write end is closed, and a process that another test started at the same
/// moment can inherit a copy and keep it for as long as it runs; the child is known to be done
/// when it has exited.
public final class ChildProcess: Sendable {
    private let process: ProcessBox
    private let file: URL
    private let reader: Mutex<Reader>

    private struct Reader: ~Copyable {
        let handle: FileHandle
        var lines: [String] = []
        var partial: String = ""

        /// Reads what the child wrote since the last call; `final` once it has exited.
        mutating func collect(final: Bool) {
            let data = (try? handle.readToEnd()) ?? Data()
            var parts = (partial + String(decoding: data, as: UTF8.self)).components(separatedBy: "\n")
            partial = parts.removeLast()
            if final && !partial.isEmpty {
                parts.append(partial)
                partial = ""
            }
            lines += parts
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
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("settle-child-\(UUID().uuidString).out")
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        let writer = try FileHandle(forWritingTo: file)
        box.process.standardOutput = writer
        box.process.standardError = FileHandle.standardError
        try box.process.run()
        try writer.close()  // the child writes through its own copy
        self.process = box
        self.file = file
        self.reader = Mutex(Reader(handle: try FileHandle(forReadingFrom: file)))
    }

    deinit {
        try? FileManager.default.removeItem(at: file)
    }

    public var pid: Int32 { process.process.processIdentifier }

    /// The complete lines the child has written so far.
    public var output: [String] {
        reader.withLock { reader in
            reader.collect(final: false)
            return reader.lines
        }
    }

    public func kill(_ signal: Int32 = SIGKILL) {
        _ = Foundation.kill(pid, signal)
    }

    /// True once the child has exited and every line it wrote was collected.
    public var outputClosed: Bool {
        // Exited first, then read: nothing can be written after the read.
        guard !isRunning else { return false }
        reader.withLock { $0.collect(final: true) }
        return true
    }

    public var isRunning: Bool { Foundation.kill(pid, 0) == 0 && process.process.isRunning }
}
