import Foundation
import SettleRuntime

/// A local stack of a test's own: `settle up` (with `arguments`) in a scratch `SETTLE_HOME` on
/// free ports, for a test that kills or reconfigures what it runs on. `settle down` runs after
/// the body whatever happens, and the home is removed.
public struct ScratchStack: Sendable {
    /// The scratch home (`.settle/` of this stack).
    public let home: URL
    public let portBase: Int
    /// What `settle up` printed.
    public let upOutput: String
    /// SETTLE_HOME and SETTLE_PORT_BASE, then the stack's own `stack.env`: what its commands need.
    public let environment: [String: String]

    /// The `settle` executable the stack runs.
    public static var settle: String { TestStack.executable("settle").path }

    /// Runs `body` on a new stack; returns what `settle down` printed. `environment`: more
    /// settings for `settle up` and the services it starts (e.g. SETTLE_LOG_LEVEL).
    @discardableResult
    public static func run(_ name: String, up arguments: [String] = [], environment extra: [String: String] = [:],
                           _ body: (ScratchStack) async throws -> Void) async throws -> String {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make(name))
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let portBase = try FreePort.stackBase()
        let own = extra.merging(["SETTLE_HOME": home.path, "SETTLE_PORT_BASE": "\(portBase)"]) { $1 }
        do {
            let up = try await Tool.output(settle, ["up"] + arguments, environment: own)
            // Exactly this stack's settings, whatever the test's own environment says.
            let values = StackEnvironment.parse(try String(contentsOf: home.appendingPathComponent("stack.env"), encoding: .utf8))
            try await body(ScratchStack(home: home, portBase: portBase, upOutput: up, environment: own.merging(values) { $1 }))
        } catch {
            _ = try? await Tool.output(settle, ["down"], environment: own)
            throw error
        }
        return try await Tool.output(settle, ["down"], environment: own)
    }

    /// Runs a `settle` command against this stack; returns what it printed.
    public func settle(_ arguments: [String]) async throws -> String {
        try await Tool.output(Self.settle, arguments, environment: environment)
    }

    /// The last `count` warnings and errors in each service's log, for a failure's message (the
    /// logs go with the scratch home when the test ends).
    public func warnings(_ services: [String], count: Int = 15) -> String {
        services.map { service in
            let log = (try? String(contentsOf: home.appendingPathComponent("logs/\(service).log"), encoding: .utf8)) ?? ""
            let lines = log.split(separator: "\n").filter { $0.contains(#""level":"warning""#) || $0.contains(#""level":"error""#) }
            return "--- \(service), its last \(min(count, lines.count)) of \(lines.count) warnings and errors:\n"
                + lines.suffix(count).map { String($0.prefix(600)) }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
