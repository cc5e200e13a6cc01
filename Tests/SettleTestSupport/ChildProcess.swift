import Foundation
import Synchronization

/// A child process whose standard output is collected line by line, for tests that kill
/// a real process (SIGKILL) and inspect what it did before.
///
/// Both outputs go to files, not pipes. A pipe's reader sees end of file only when every
/// copy of its write end is closed: a child that inherited the test runner's standard error
/// and outlived the test (its test failed before stopping it, or the runner crashed) would keep
/// `swift test` waiting for that end of file forever. The child is known to be done when it
/// has exited; what it wrote to standard error is copied to the test's standard error when the
/// child's owner lets it go.
///
/// A child is SIGKILLed when its owner lets it go, so a test that throws before stopping its
/// children leaves none running.
public final class ChildProcess: Sendable {
    private let process: ProcessBox
    private let file: URL
    private let errorFile: URL
    private let name: String
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
        let file = try Self.makeFile("out")
        let errorFile = try Self.makeFile("err")
        let writer = try FileHandle(forWritingTo: file)
        let errorWriter = try FileHandle(forWritingTo: errorFile)
        box.process.standardOutput = writer
        box.process.standardError = errorWriter
        try box.process.run()
        // The child writes through its own copies.
        try writer.close()
        try errorWriter.close()
        self.process = box
        self.file = file
        self.errorFile = errorFile
        self.name = ([executable.lastPathComponent] + arguments.prefix(1)).joined(separator: " ")
        self.reader = Mutex(Reader(handle: try FileHandle(forReadingFrom: file)))
    }

    private static func makeFile(_ suffix: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("settle-child-\(UUID().uuidString).\(suffix)")
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        return file
    }

    deinit {
        if isRunning { kill(SIGKILL) }
        let lines = errorLines
        if !lines.isEmpty {
            let shown = lines.suffix(Self.errorLinesShown)
            var text = "--- \(name) (pid \(pid)), standard error"
            if shown.count < lines.count { text += ", last \(shown.count) of \(lines.count) lines" }
            text += ":\n" + shown.joined(separator: "\n") + "\n"
            FileHandle.standardError.write(Data(text.utf8))
        }
        try? FileManager.default.removeItem(at: file)
        try? FileManager.default.removeItem(at: errorFile)
    }

    private static let errorLinesShown = 100

    public var pid: Int32 { process.process.processIdentifier }

    /// The complete lines the child has written so far.
    public var output: [String] {
        reader.withLock { reader in
            reader.collect(final: false)
            return reader.lines
        }
    }

    /// What the child has written to standard error so far, line by line.
    public var errorLines: [String] {
        guard let data = FileManager.default.contents(atPath: errorFile.path), !data.isEmpty else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The last `count` lines of standard error, for an error message saying why a child failed.
    public func errorTail(_ count: Int = 10) -> String {
        errorLines.suffix(count).joined(separator: "\n")
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
