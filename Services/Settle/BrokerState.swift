import Foundation
import SettleRuntime

/// What `settle broker` writes once it listens: its PID, bootstrap servers and admin address.
struct BrokerState {
    var pid: Int32
    var bootstrapServers: String
    var adminURL: String

    static func read(_ file: URL) -> BrokerState? {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        let values = StackEnvironment.parse(text)
        guard let pid = values["PID"].flatMap(Int32.init), let bootstrap = values["KAFKA_BROKERS"], let admin = values["ADMIN_URL"] else {
            return nil
        }
        return BrokerState(pid: pid, bootstrapServers: bootstrap, adminURL: admin)
    }

    func write(to file: URL) throws {
        try "PID=\(pid)\nKAFKA_BROKERS=\(bootstrapServers)\nADMIN_URL=\(adminURL)\n".write(to: file, atomically: true, encoding: .utf8)
    }
}
