import ArgumentParser
import Foundation

struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop exactly the processes `settle up` started (by PID); data under .settle/ stays."
    )

    func run() async throws {
        let layout = try StackLayout()
        let prometheus = LocalPrometheus(layout: layout)
        if let pid = prometheus.pid {
            _ = await LocalProcess.stop(pid)
            print("stopped Prometheus (pid \(pid))")
        }
        try? FileManager.default.removeItem(at: prometheus.pidFile)
        await LocalService.stopAll(layout)
        if let state = BrokerState.read(layout.brokerStateFile),
           let pid = LocalProcess.livePID(from: layout.brokerStateFile, expecting: "broker") ?? (LocalProcess.isAlive(state.pid) ? state.pid : nil) {
            _ = await LocalProcess.stop(pid)
            print("stopped the development broker (pid \(pid))")
        }
        try? FileManager.default.removeItem(at: layout.brokerStateFile)
        if let pid = LocalRedis(layout: layout).pid {
            _ = await LocalProcess.stop(pid)
            print("stopped Redis (pid \(pid))")
        }
        if let pid = LocalPostgres(layout: layout).pid {
            // SIGINT is PostgreSQL's fast shutdown: sessions end, committed data stays.
            _ = await LocalProcess.stop(pid, signal: SIGINT, grace: .seconds(30))
            print("stopped PostgreSQL (pid \(pid))")
        }
        try? FileManager.default.removeItem(at: layout.stackEnv)
    }
}
