import Foundation
import SettleRuntime

/// Runs a command-line tool to completion on a thread of its own (never on the cooperative
/// pool), its output discarded; throws if it exits non-zero.
public enum Tool {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func run(_ path: String, _ arguments: [String]) async throws {
        _ = try await spawn(path, arguments, environment: nil, capture: false)
    }

    /// Runs a tool like `run`, with `environment` added to the test's, and returns what it
    /// wrote to standard output and standard error.
    public static func output(_ path: String, _ arguments: [String], environment: [String: String]) async throws -> String {
        var values = ProcessInfo.processInfo.environment
        for (key, value) in environment { values[key] = value }
        return try await spawn(path, arguments, environment: values, capture: true)
    }

    /// Spawns the tool on a thread of its own and waits for it; with `capture`, its output goes
    /// to a scratch file that is read back (and quoted when the tool fails).
    private static func spawn(_ path: String, _ arguments: [String], environment: [String: String]?, capture: Bool) async throws -> String {
        let file = capture ? FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("tool") + ".out") : nil
        defer { if let file { try? FileManager.default.removeItem(at: file) } }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            Thread.detachNewThread {
                do {
                    let status = try ProcessSpawner.run(path, arguments, output: file, environment: environment)
                    let text = file.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? ""
                    guard status == 0 else {
                        throw Failure(description: "\(path) \(arguments.joined(separator: " ")) exited \(status)" + (capture ? ": \(text)" : ""))
                    }
                    continuation.resume(returning: text)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
