import Foundation

/// A dependency Settle cannot start without is missing: says what and where in one line.
public struct StartupFailure: Error, CustomStringConvertible, Sendable {
    public var dependency: String
    public var address: String
    public var reason: String

    public init(dependency: String, address: String, reason: String) {
        self.dependency = dependency
        self.address = address
        self.reason = reason
    }

    public var description: String { "cannot reach \(dependency) at \(address): \(reason)" }
}

/// Runs a process's main body; a configuration or start-up error ends the process with one
/// line on standard error and exit status 1, never a stack trace.
public enum ProcessRunner {
    public static func run(_ name: String, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch let error as ConfigurationError {
            fail(name, "configuration error: \(error)")
        } catch let error as StartupFailure {
            fail(name, "\(error)")
        } catch {
            fail(name, "\(error)")
        }
    }

    public static func fail(_ name: String, _ message: String) -> Never {
        FileHandle.standardError.write(Data("\(name): \(message)\n".utf8))
        exit(1)
    }
}
