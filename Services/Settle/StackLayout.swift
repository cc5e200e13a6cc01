import Foundation
import SettleDomain
import SettleRuntime

/// Where the local stack keeps its files (`.settle/` in the checkout) and which ports it uses.
struct StackLayout {
    let root: URL
    let portBase: Int

    init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        root = StackEnvironment.directory(environment: environment)
        let reader = EnvironmentReader(environment)
        portBase = try reader.integer("SETTLE_PORT_BASE", default: ServicePorts.defaultBase, in: 1024...65000)
    }

    var postgresData: URL { root.appendingPathComponent("postgres") }
    var redisData: URL { root.appendingPathComponent("redis") }
    var logs: URL { root.appendingPathComponent("logs") }
    var run: URL { root.appendingPathComponent("run") }
    var stackEnv: URL { root.appendingPathComponent("stack.env") }
    /// The demo merchant `settle up` made, with its API key (mode 0600).
    var demoEnv: URL { root.appendingPathComponent("demo.env") }
    var redisPIDFile: URL { run.appendingPathComponent("redis.pid") }
    var prometheusPIDFile: URL { run.appendingPathComponent("prometheus.pid") }
    var brokerStateFile: URL { run.appendingPathComponent("broker.env") }
    /// Which development broker `settle restore` last queued every event again for (its
    /// `started_at`), for `settle verify`: that broker must hold all of them.
    var restoreMark: URL { root.appendingPathComponent("restored_for_broker") }

    func markRestored(forBrokerStartedAt started: Double) throws {
        try Data(String(started).utf8).write(to: restoreMark, options: .atomic)
    }

    func restoredForBroker() -> Double? {
        guard let text = try? String(contentsOf: restoreMark, encoding: .utf8) else { return nil }
        return Double(text)
    }

    var postgresPort: Int { portBase + ServicePorts.postgres }
    var redisPort: Int { portBase + ServicePorts.redis }
    var brokerAdminPort: Int { portBase + ServicePorts.brokerAdmin }

    var databaseURL: String { "postgres://settle@127.0.0.1:\(postgresPort)/settle" }
    var redisURL: String { "redis://127.0.0.1:\(redisPort)" }
    var brokerAdminURL: String { "http://127.0.0.1:\(brokerAdminPort)" }

    func log(_ name: String) -> URL { logs.appendingPathComponent("\(name).log") }

    func prepareDirectories() throws {
        for directory in [root, logs, run, redisData] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
    }
}
