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
}
