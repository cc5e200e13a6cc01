import Foundation
import SettleRuntime

/// A development broker of one test's own (`settle broker` in a child process), for tests
/// that take brokers down or inject errors: on the shared broker those faults would reach
/// every other test running at the same time.
public final class PrivateBroker: Sendable {
    public let bootstrapServers: String
    public let admin: BrokerAdmin
    private let process: ChildProcess

    private init(process: ChildProcess, bootstrapServers: String, adminURL: String) {
        self.process = process
        self.bootstrapServers = bootstrapServers
        self.admin = BrokerAdmin(baseURL: adminURL)
    }

    /// Starts a 3-broker mock cluster with an admin port on any free loopback port.
    public static func start() async throws -> PrivateBroker {
        let stateFile = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("broker") + ".env")
        let process = try ChildProcess(TestStack.executable("settle"), [
            "broker", "--admin-port", "0", "--state-file", stateFile.path,
        ])
        @Sendable func state() -> (brokers: String, admin: String)? {
            guard let text = try? String(contentsOf: stateFile, encoding: .utf8) else { return nil }
            let values = StackEnvironment.parse(text)
            guard let brokers = values["KAFKA_BROKERS"], let admin = values["ADMIN_URL"] else { return nil }
            return (brokers, admin)
        }
        try await eventually("the private broker to listen") { state() != nil }
        let (brokers, admin) = state()!
        try? FileManager.default.removeItem(at: stateFile)
        return PrivateBroker(process: process, bootstrapServers: brokers, adminURL: admin)
    }

    /// Stops the broker (SIGTERM) and waits until it exited.
    public func stop() async throws {
        process.kill(SIGTERM)
        try await eventually("the private broker to exit") { process.outputClosed }
    }
}
