import AsyncHTTPClient
import Foundation
import SettleDomain

/// A Settle service `settle up` runs on the local stack: the executable beside `settle`,
/// started in a session of its own with the stack's settings, tracked by a PID file.
struct LocalService {
    /// The instance's name: its PID file and log are named after it.
    var name: String
    /// A program beside `settle` (or `settle` itself, for its development-only roles).
    var executable: String
    /// Its arguments, e.g. `processor` for `settle processor`.
    var arguments: [String] = []
    var portVariable: String
    var portOffset: Int
    /// The `stack.env` variable that says where it answers, if any.
    var urlVariable: String?

    /// The services of the local stack, in start order (`settle down` stops them in reverse).
    static let all = [
        // The card-processor simulator first: the payment worker calls it from its first message.
        LocalService(name: "settle-processor", executable: "settle", arguments: ["processor"], portVariable: "SETTLE_PROCESSOR_PORT",
                     portOffset: ServicePorts.processor, urlVariable: "SETTLE_PROCESSOR_URL"),
        LocalService(name: "settle-api", executable: "settle-api", portVariable: "SETTLE_API_PORT", portOffset: ServicePorts.api,
                     urlVariable: "SETTLE_API_URL"),
        // Two relays share the outbox's shards; kill one and the other takes them over.
        LocalService(name: "settle-relay-1", executable: "settle-relay", portVariable: "SETTLE_RELAY_PORT", portOffset: ServicePorts.relay,
                     urlVariable: nil),
        LocalService(name: "settle-relay-2", executable: "settle-relay", portVariable: "SETTLE_RELAY_PORT", portOffset: ServicePorts.secondRelay,
                     urlVariable: nil),
        // Two workers share the settle-worker group's partitions; kill one and the other takes them over.
        LocalService(name: "settle-worker-1", executable: "settle-worker", portVariable: "SETTLE_WORKER_PORT", portOffset: ServicePorts.worker,
                     urlVariable: nil),
        LocalService(name: "settle-worker-2", executable: "settle-worker", portVariable: "SETTLE_WORKER_PORT",
                     portOffset: ServicePorts.secondWorker, urlVariable: nil),
        // The webhook receiver first, then the dispatcher that sends to it.
        LocalService(name: "settle-sink", executable: "settle", arguments: ["sink", "--secrets-from-database"],
                     portVariable: "SETTLE_SINK_PORT", portOffset: ServicePorts.sink, urlVariable: "SETTLE_SINK_URL"),
        LocalService(name: "settle-dispatcher", executable: "settle-dispatcher", portVariable: "SETTLE_DISPATCHER_PORT",
                     portOffset: ServicePorts.dispatcher, urlVariable: nil),
    ]

    /// Stops every running service of the stack, in reverse start order (SIGTERM, so consumers
    /// leave their groups), and removes their PID files.
    static func stopAll(_ layout: StackLayout) async {
        for service in all.reversed() {
            if let pid = service.pid(layout) {
                _ = await LocalProcess.stop(pid)
                print("stopped \(service.name) (pid \(pid))")
            }
            try? FileManager.default.removeItem(at: service.pidFile(layout))
        }
    }

    func port(_ layout: StackLayout) -> Int { layout.portBase + portOffset }
    func url(_ layout: StackLayout) -> String { "http://127.0.0.1:\(port(layout))" }
    func pidFile(_ layout: StackLayout) -> URL { layout.run.appendingPathComponent("\(name).pid") }
    func pid(_ layout: StackLayout) -> Int32? { LocalProcess.livePID(from: pidFile(layout), expecting: commandLine) }

    /// What its `/proc/<pid>/cmdline` contains: `settle processor` is told apart from `settle broker`
    /// and from the `settle up` that started it.
    var commandLine: String { ([executable] + arguments).joined(separator: " ") }

    /// The build the running instance was started from, if it runs.
    func build(_ layout: StackLayout) -> LocalBuild? { pid(layout).flatMap(LocalBuild.of(pid:)) }

    /// Starts the service from `build` unless it runs already, then waits until it answers
    /// `/healthz`. An instance running from another build is stopped first (SIGTERM, so a
    /// consumer leaves its group), so `settle up --release` switches a running stack over.
    func start(_ layout: StackLayout, environment: [String: String], build: LocalBuild = .current) async throws {
        if let running = pid(layout) {
            guard let from = LocalBuild.of(pid: running), from != build else { return }
            _ = await LocalProcess.stop(running)
        }
        let executable = build.executable(self.executable)
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw LocalProcess.Failure(description: "\(executable) is missing: build it with `swift build`")
        }
        var environment = environment
        environment[portVariable] = "\(port(layout))"
        let pid = try LocalProcess.spawnDetached(executable, arguments, log: layout.log(name), environment: environment)
        try "\(pid)\n".write(to: pidFile(layout), atomically: true, encoding: .utf8)
        let healthy = await LocalProcess.wait(for: .seconds(60)) {
            guard LocalProcess.isAlive(pid) else { return true }
            return await answers(path: "/healthz", layout)
        }
        guard healthy, LocalProcess.isAlive(pid) else {
            throw LocalProcess.Failure(description: "\(name) did not start; see \(layout.log(name).path)")
        }
    }

    /// True when `GET path` answers 200 within two seconds.
    func answers(path: String, _ layout: StackLayout) async -> Bool {
        var request = HTTPClientRequest(url: url(layout) + path)
        request.method = .GET
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)) else { return false }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return response.status == .ok
    }
}
