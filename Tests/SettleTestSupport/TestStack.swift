import Foundation
import SettleRuntime

/// The running local stack the tests talk to (PostgreSQL, Redis, the development broker),
/// read from `.settle/stack.env` in the checkout, overridden by the environment.
public struct TestStack: Sendable {
    public let values: [String: String]

    public init() {
        var environment = ProcessInfo.processInfo.environment
        if environment["SETTLE_HOME"] == nil {
            environment["SETTLE_HOME"] = TestStack.packageRoot.appendingPathComponent(".settle").path
        }
        values = StackEnvironment.load(environment: environment)
    }

    public static let shared = TestStack()

    /// The checkout this file lives in.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    private func require(_ name: String) -> String {
        guard let value = values[name] else {
            fatalError("\(name) is not set: start the local stack with `deploy/up.sh` (or `settle up`) before `swift test`")
        }
        return value
    }

    public var kafkaBrokers: String { require("KAFKA_BROKERS") }
    public var databaseURL: URL { URL(string: require("DATABASE_URL"))! }
    public var redisURL: String { require("REDIS_URL") }
    public var brokerAdminURL: String { require("SETTLE_BROKER_ADMIN_URL") }

    /// An executable of this package, built by `swift build` / `swift test`.
    public static func executable(_ name: String) -> URL {
        packageRoot.appendingPathComponent(".build/debug/\(name)")
    }
}

/// Names no other test (or earlier run) uses: tests share one broker, database server and Redis.
public enum UniqueName {
    public static func make(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(12).lowercased())"
    }
}
