import ArgumentParser
import Foundation
import SettleDomain

/// Prometheus for the local stack (`settle up --observe`): Debian's `prometheus` on loopback,
/// scraping every service's `/metrics` and evaluating deploy/prometheus/rules.yml (the alerts
/// and SLO rules compose and k8s load) every 5 s, its data under `.settle/prometheus/`.
struct LocalPrometheus {
    let layout: StackLayout

    var port: Int { layout.portBase + ServicePorts.prometheus }
    var url: String { "http://127.0.0.1:\(port)" }
    var directory: URL { layout.root.appendingPathComponent("prometheus") }
    var pidFile: URL { layout.prometheusPIDFile }
    var pid: Int32? { LocalProcess.livePID(from: pidFile, expecting: "prometheus") }

    /// The rules compose and k8s use: in the checkout `settle` runs from, else in the current directory.
    static func rulesFile(_ layout: StackLayout) throws -> URL {
        let candidates = [layout.root.deletingLastPathComponent(), URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
            .map { $0.appendingPathComponent("deploy/prometheus/rules.yml") }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw ValidationError("deploy/prometheus/rules.yml not found; run settle from the checkout")
        }
        return found
    }

    /// Starts it unless it runs (its configuration rewritten for the stack's ports), and waits until it is ready.
    func start() async throws {
        if pid != nil { return }
        guard let prometheus = LocalProcess.which("prometheus") else { throw ValidationError("prometheus is not installed (apt-get install prometheus)") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configuration = directory.appendingPathComponent("prometheus.yml")
        try self.configuration(rules: try Self.rulesFile(layout)).write(to: configuration, atomically: true, encoding: .utf8)
        let pid = try LocalProcess.spawnDetached(prometheus, [
            "--config.file=\(configuration.path)", "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--storage.tsdb.retention.time=7d", "--web.listen-address=127.0.0.1:\(port)",
        ], log: layout.log("prometheus"))
        try "\(pid)\n".write(to: pidFile, atomically: true, encoding: .utf8)
        let ready = await LocalProcess.wait(for: .seconds(60)) {
            guard LocalProcess.isAlive(pid) else { return true }
            return await CLIHTTP.get(url + "/-/ready") != nil
        }
        guard ready, LocalProcess.isAlive(pid) else {
            throw ValidationError("Prometheus did not start; see \(layout.log("prometheus").path)")
        }
    }

    /// Every service of the stack as a target named by its `instance`, but the sink: a stand-in
    /// for merchants' receivers, it has no `/metrics`.
    func configuration(rules: URL) -> String {
        let targets = LocalService.all.filter { $0.name != "settle-sink" }.map { service in
            """
                  - targets: ['127.0.0.1:\(service.port(layout))']
                    labels:
                      instance: \(service.name)
            """
        }
        return """
            # Written by `settle up --observe` for this stack's ports; rewritten on every start.
            global:
              scrape_interval: 5s
              evaluation_interval: 5s
            rule_files:
              - \(rules.path)
            scrape_configs:
              - job_name: settle
                static_configs:
            \(targets.joined(separator: "\n"))

            """
    }
}
