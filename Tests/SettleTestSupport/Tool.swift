import Foundation
import SettleRuntime

/// Runs a command-line tool to completion on a thread of its own (never on the cooperative
/// pool), its output discarded; throws if it exits non-zero.
public enum Tool {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func run(_ path: String, _ arguments: [String]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                do {
                    let status = try ProcessSpawner.run(path, arguments, output: nil)
                    guard status == 0 else {
                        throw Failure(description: "\(path) \(arguments.joined(separator: " ")) exited \(status)")
                    }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Runs a tool like `run`, with `environment` added to the test's, and returns what it
    /// wrote to standard output and standard error.
    public static func output(_ path: String, _ arguments: [String], environment: [String: String]) async throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("tool") + ".out")
        defer { try? FileManager.default.removeItem(at: file) }
        var values = ProcessInfo.processInfo.environment
        for (key, value) in environment { values[key] = value }
        let merged = values
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                do {
                    let status = try ProcessSpawner.run(path, arguments, output: file, environment: merged)
                    let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                    guard status == 0 else {
                        throw Failure(description: "\(path) \(arguments.joined(separator: " ")) exited \(status): \(text)")
                    }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    }
}
