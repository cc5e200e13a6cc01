import ArgumentParser
import Foundation
import NIOPosix
import PostgresNIO
import SettleDomain
import SettleRuntime
import SettleStorage
import Synchronization

/// `settle chaos`: a load of N orders on the running local stack while relays, workers and the
/// dispatcher are SIGKILLed at seeded random instants and restarted after random pauses (with
/// flags also brokers, Redis, PostgreSQL and the simulator's faults), then `settle verify`'s
/// checks over what the load was answered. Exits non-zero on any violation.
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Load the local stack while killing its relays, workers and dispatcher at random (seeded) instants, then verify the contract; exits non-zero on any violation.",
        discussion: """
            The same --seed with the same options gives the same schedule (--dry-run prints it). \
            Everything taken down is brought back before the checks. The load, its history and \
            report, and what was done when (chaos.log) are written under .settle/reports/chaos-<time>/.
            """
    )

    @Option(help: "Orders to create.")
    var orders = 2_000

    @Option(help: "SIGKILLs of the services named by --targets, at random instants during the load.")
    var kills = 6

    @Option(help: "Seed of the schedule (default: a random one, printed so the run can be repeated).")
    var seed: UInt64?

    @Option(help: "Orders per second to offer (open model): the load lasts orders / rate seconds.")
    var rate = 100.0

    @Option(help: "Services that may be killed: relay, worker, dispatcher, or instance names such as settle-worker-1.")
    var targets = "relay,worker,dispatcher"

    @Flag(help: "Also take brokers of the development broker down and back, twice.")
    var brokers = false

    @Flag(help: "Also SIGKILL Redis and start it again.")
    var redis = false

    @Flag(help: "Also stop PostgreSQL the hard way (immediate shutdown) and start it again.")
    var postgres = false

    @Flag(help: "Turn on the card-processor simulator's faults during the load (errors, latency, dropped connections after a charge, garbage answers).")
    var faults = false

    @Option(help: "Seconds to wait after the load for orders and webhooks to settle before judging.")
    var settle = 180

    @Flag(help: "Print the schedule and exit without touching the stack.")
    var dryRun = false

    func validate() throws {
        guard (1...1_000_000).contains(orders) else { throw ValidationError("--orders must be 1 to 1000000") }
        guard (0...1_000).contains(kills) else { throw ValidationError("--kills must be 0 to 1000") }
        guard rate > 0, rate <= 100_000 else { throw ValidationError("--rate must be above 0 and at most 100000") }
        guard (0...3_600).contains(settle) else { throw ValidationError("--settle must be 0 to 3600 seconds") }
        _ = try victims()
    }

    /// The instances `--targets` names, in the stack's order.
    func victims() throws -> [LocalService] {
        let killable = LocalService.all.filter { ["settle-relay", "settle-worker", "settle-dispatcher"].contains($0.executable) }
        var chosen: [LocalService] = []
        for name in targets.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            let matches = killable.filter { $0.name == name || $0.executable == "settle-" + name }
            guard !matches.isEmpty else {
                throw ValidationError("--targets: unknown \"\(name)\"; use relay, worker, dispatcher or one of \(killable.map(\.name).joined(separator: ", "))")
            }
            chosen += matches.filter { match in !chosen.contains { $0.name == match.name } }
        }
        return chosen
    }

    func run() async throws {
        let environment = StackEnvironment.load()
        let layout = try StackLayout(environment: environment)
        let victims = try victims()
        let seed = self.seed ?? UInt64.random(in: 0...999_999)
        let seconds = Double(orders) / rate
        var brokerCount: Int?
        if brokers {
            if let admin = environment["SETTLE_BROKER_ADMIN_URL"], let cluster = await CLIHTTP.json(admin + "/cluster"),
               let count = cluster["brokers"] as? Int {
                brokerCount = count
            } else if dryRun {
                brokerCount = 3
                print("(no development broker answers: assuming `settle broker`'s 3 brokers)")
            } else {
                throw ValidationError("--brokers needs the development broker's admin (SETTLE_BROKER_ADMIN_URL): run `settle up`")
            }
        }
        let plan = ChaosPlan.make(seed: seed, seconds: seconds, kills: kills, services: victims.map(\.name), brokers: brokerCount,
                                  redis: redis, postgres: postgres)
        let heading = String(format: "chaos: %d orders at %.0f/s (%.1f s), seed %llu, %d disruptions%@", orders, rate, seconds, seed,
                             plan.disruptions.count, faults ? ", simulator faults on" : "")
        print(heading)
        for disruption in plan.disruptions { print("  " + disruption.summary) }
        if dryRun { return }

        guard let api = environment["SETTLE_API_URL"] else { throw ValidationError("no SETTLE_API_URL: run `settle up` first") }
        for service in victims where service.pid(layout) == nil {
            throw ValidationError("\(service.name) is not running: run `settle up` first")
        }
        let keys = try await LoadMerchants.create(count: LoadMerchants.count(forRate: rate, connections: nil, environment: environment),
                                                  label: "settle chaos", environment: environment)
        let started = Date()
        let directory = StackEnvironment.directory(environment: environment).appendingPathComponent("reports")
            .appendingPathComponent(LoadReport.stamp("chaos", started))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let journal = try ChaosJournal(file: directory.appendingPathComponent("chaos.log"), heading: heading)
        let stage = ChaosStage(layout: layout, environment: environment, journal: journal)

        let processor = environment["SETTLE_PROCESSOR_URL"]
        if faults, let processor {
            let on = #"{"error_rate":0.05,"latency_ms":100,"crash_after_charge_rate":0.02,"garbage_rate":0.005}"#
            guard await CLIHTTP.post(processor + "/faults", json: on) else { throw ValidationError("the simulator at \(processor) refused its faults") }
            journal.note("simulator faults on: \(on)")
        }
        let loadPlan = LoadPlan(api: api, rate: rate, connections: nil, duration: .milliseconds(Int64(seconds * 1_000)),
                                methods: LoadPlan.methods("ok=90,declined=5,flaky=5") ?? [], keyReuse: 0)
        let recorder = LoadRecorder(history: directory.appendingPathComponent("history.jsonl"))
        let start = ContinuousClock.now
        journal.start(at: start)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await LoadRunner(plan: loadPlan, merchants: keys, recorder: recorder, showsProgress: false).run() }
                // One sequence per target: a target's disruptions never overlap; different targets' may.
                for (_, disruptions) in Dictionary(grouping: plan.disruptions, by: \.target) {
                    group.addTask {
                        var settledIn = start
                        for disruption in disruptions {
                            // Never again before the target has been back for a few seconds (rejoined, working).
                            let due = max(start + .milliseconds(Int64(disruption.at * 1_000)), settledIn)
                            try await Task.sleep(until: due, clock: .continuous)
                            try await stage.perform(disruption)
                            settledIn = .now + .seconds(3)
                        }
                    }
                }
                let progress = Task { await stage.report(recorder: recorder, orders: orders, disruptions: plan.disruptions.count) }
                defer { progress.cancel() }
                try await group.waitForAll()
            }
        } catch {
            journal.note("stopped early: \(error)")
            await stage.restoreEverything(brokers: brokerCount ?? 0)
            throw error
        }
        // Whatever happened, the stack is whole again before it is judged.
        await stage.restoreEverything(brokers: brokerCount ?? 0)
        if faults, let processor {
            _ = await CLIHTTP.post(processor + "/faults",
                                   json: #"{"error_rate":0,"latency_ms":0,"crash_after_charge_rate":0,"garbage_rate":0}"#)
            journal.note("simulator faults off")
        }
        stage.endProgress()

        let followed = try await LoadFollower(environment: environment, orders: recorder.accepted, patience: .seconds(settle)).run()
        let report = LoadReport(plan: loadPlan, merchants: keys.count, started: started, results: recorder.results, followed: followed)
        try report.write(to: directory)
        print(report.text)

        let history = LoadHistory(accepted: recorder.accepted.map {
            LoadHistory.Accepted(key: $0.key, merchant: $0.merchant.uuidString.lowercased(), orderID: $0.orderID, status: 201)
        })
        let since = started.addingTimeInterval(-1)
        let verifier = try Verifier(environment: environment, since: since, history: history)
        let checks = try await verifier.run(settle: .seconds(settle)) { line in print(line) }
        print("\(stage.disruptionsDone) of \(plan.disruptions.count) disruptions done, every service back; the checks:")
        Verifier.printTable(checks)
        print("""
            history, summary.json, report.html and chaos.log in \(directory.path)
            check again with: settle verify --history \(directory.appendingPathComponent("history.jsonl").path) --since \(ISO8601DateFormatter().string(from: since))
            """)
        if checks.contains(where: \.failed) { throw ExitCode(1) }
    }
}

/// Does the disruptions to the local stack's processes and undoes them, writing each step to
/// the journal; shows the progress line.
final class ChaosStage: Sendable {
    let layout: StackLayout
    let environment: [String: String]
    let journal: ChaosJournal
    private let state = Mutex((done: 0, down: [String]()))

    init(layout: StackLayout, environment: [String: String], journal: ChaosJournal) {
        self.layout = layout
        self.environment = environment
        self.journal = journal
    }

    var disruptionsDone: Int { state.withLock { $0.done } }

    private func marking(_ target: String, _ body: () async throws -> Void) async rethrows {
        state.withLock { $0.down.append(target) }
        defer { state.withLock { $0.down.removeAll { $0 == target }; $0.done += 1 } }
        try await body()
    }

    func perform(_ disruption: ChaosPlan.Disruption) async throws {
        let pause = Duration.milliseconds(Int64(disruption.pause * 1_000))
        try await marking(disruption.target) {
            switch disruption.action {
            case .kill(let name):
                guard let service = LocalService.all.first(where: { $0.name == name }) else { return }
                guard let pid = service.pid(layout) else {
                    journal.note("\(name) was not running")
                    try await supervise(service, build: .current)
                    return
                }
                let build = LocalBuild.of(pid: pid) ?? .current
                kill(pid, SIGKILL)
                journal.note("SIGKILL \(name) (pid \(pid))")
                _ = await LocalProcess.wait(for: .seconds(10)) { !LocalProcess.isAlive(pid) }
                try await Task.sleep(for: pause)
                try await supervise(service, build: build)
                journal.note("restarted \(name) (pid \(service.pid(layout).map(String.init) ?? "?"))")
            case .brokerDown(let id):
                guard let admin = environment["SETTLE_BROKER_ADMIN_URL"] else { return }
                guard await CLIHTTP.post(admin + "/brokers/\(id)/down") else { throw ChaosFailure("broker \(id) could not be taken down") }
                journal.note("broker \(id) down")
                try await Task.sleep(for: pause)
                guard await CLIHTTP.post(admin + "/brokers/\(id)/up") else { throw ChaosFailure("broker \(id) could not be brought up") }
                journal.note("broker \(id) up")
            case .restartRedis:
                let redis = LocalRedis(layout: layout)
                guard let pid = redis.pid else { throw ChaosFailure("Redis is not running: run `settle up`") }
                kill(pid, SIGKILL)
                journal.note("SIGKILL Redis (pid \(pid))")
                _ = await LocalProcess.wait(for: .seconds(10)) { !LocalProcess.isAlive(pid) }
                try await Task.sleep(for: pause)
                try await NIOThreadPool.singleton.runIfActive { try redis.start() }
                // redis-server writes its PID file just after it daemonizes.
                _ = await LocalProcess.wait(for: .seconds(5)) { redis.pid != nil }
                journal.note("started Redis (pid \(redis.pid.map(String.init) ?? "?"))")
            case .restartPostgres:
                let postgres = LocalPostgres(layout: layout)
                guard let pid = postgres.pid else { throw ChaosFailure("PostgreSQL is not running: run `settle up`") }
                // SIGQUIT is PostgreSQL's immediate shutdown: no checkpoint, crash recovery on start,
                // as after a power cut; only what was committed (and flushed) survives.
                kill(pid, SIGQUIT)
                journal.note("PostgreSQL immediate shutdown (pid \(pid))")
                _ = await LocalProcess.wait(for: .seconds(30)) { !LocalProcess.isAlive(pid) }
                try await Task.sleep(for: pause)
                try await NIOThreadPool.singleton.runIfActive { try postgres.start() }
                journal.note("started PostgreSQL (pid \(postgres.pid.map(String.init) ?? "?"))")
            }
        }
    }

    /// Starts a service as a supervisor would (systemd's `Restart=`, Kubernetes' restart
    /// policy): a service exits when a dependency is unreachable at its start (PostgreSQL or
    /// Redis may be down at that moment), so it is started again every second, for a minute.
    private func supervise(_ service: LocalService, build: LocalBuild) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                try await service.start(layout, environment: environment, build: build)
                return
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                journal.note("\(service.name) exited at start (\(Self.lastLine(of: layout.log(service.name)))); starting it again in 1 s")
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private static func lastLine(of log: URL) -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isNewline).last.map { String($0.prefix(160)) } ?? "no log"
    }

    /// Brings back anything still down: every broker, Redis, PostgreSQL and every service.
    func restoreEverything(brokers: Int) async {
        if let admin = environment["SETTLE_BROKER_ADMIN_URL"] {
            for id in stride(from: 1, through: brokers, by: 1) { _ = await CLIHTTP.post(admin + "/brokers/\(id)/up") }
        }
        let redis = LocalRedis(layout: layout)
        if redis.pid == nil { _ = try? await NIOThreadPool.singleton.runIfActive { try redis.start() } }
        let postgres = LocalPostgres(layout: layout)
        if postgres.pid == nil { _ = try? await NIOThreadPool.singleton.runIfActive { try postgres.start() } }
        for service in LocalService.all where service.pid(layout) == nil {
            do {
                try await supervise(service, build: .current)
                journal.note("started \(service.name), which was not running")
            } catch {
                journal.note("could not start \(service.name): \(error)")
            }
        }
    }

    /// Every second: the load's progress, what is down, the backlog in PostgreSQL and the
    /// workers' consumer lag. Rewritten in place on a terminal, a plain line every five seconds otherwise.
    func report(recorder: LoadRecorder, orders: Int, disruptions: Int) async {
        let terminal = isatty(STDOUT_FILENO) == 1
        journal.progressInPlace = terminal
        _ = try? await CLIDatabase.with(environment: environment, name: "settle-chaos") { client, logger in
            var tick = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                tick += 1
                if !terminal && tick % 5 != 0 { continue }
                let results = recorder.results
                let answered = results.statuses.values.reduce(0, +)
                let errors = answered - results.statuses[201, default: 0]
                let (done, down) = state.withLock { ($0.done, $0.down) }
                let backlog = await Self.backlog(client, logger).map(String.init) ?? "?"
                let lag = await workerLag().map(String.init) ?? "?"
                let line = String(format: "%5.0fs  %d/%d answered  %d errors  %d/%d disruptions done  down: %@  backlog %@  lag %@",
                                  journal.elapsed, answered, orders, errors, done, disruptions,
                                  down.isEmpty ? "-" : down.joined(separator: ","), backlog, lag)
                journal.progress(line)
            }
        }
    }

    func endProgress() { journal.progress(nil) }

    /// Outbox rows not yet on Kafka plus orders without an outcome; nil while PostgreSQL does not answer.
    private static func backlog(_ client: PostgresClient, _ logger: Logger) async -> Int? {
        try? await DatabaseUnavailable.guarding(deadline: .seconds(2)) {
            let rows = try await client.query(
                "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM orders WHERE status = 'pending')", logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// The sum of the running workers' `settle_worker_consumer_lag`; nil when none answers.
    private func workerLag() async -> Int? {
        var total: Int?
        for service in LocalService.all where service.executable == "settle-worker" {
            guard let metrics = await CLIHTTP.get(service.url(layout) + "/metrics") else { continue }
            for line in metrics.split(separator: "\n") where line.hasPrefix("settle_worker_consumer_lag") {
                if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total = (total ?? 0) + Int(value) }
            }
        }
        return total
    }
}

/// chaos.log: each step with its time since the load started, also printed (above the
/// progress line on a terminal).
final class ChaosJournal: Sendable {
    private let handle: FileHandle
    private let state = Mutex((start: ContinuousClock.Instant?.none, inPlace: false, line: String?.none))

    init(file: URL, heading: String) throws {
        guard FileManager.default.createFile(atPath: file.path, contents: Data((heading + "\n").utf8)) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        handle = try FileHandle(forWritingTo: file)
        handle.seekToEndOfFile()
    }

    func start(at instant: ContinuousClock.Instant) { state.withLock { $0.start = instant } }

    var elapsed: Double {
        state.withLock { state in state.start.map { (ContinuousClock.now - $0) / .seconds(1) } ?? 0 }
    }

    var progressInPlace: Bool {
        get { state.withLock { $0.inPlace } }
        set { state.withLock { $0.inPlace = newValue } }
    }

    func note(_ text: String) {
        let line = String(format: "%6.1fs  ", elapsed) + text
        state.withLock { state in
            handle.write(Data((line + "\n").utf8))
            if state.inPlace {
                // Over the progress line, which is drawn again below.
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line + "\n" + (state.line ?? "")).utf8))
            } else {
                print(line)
            }
        }
    }

    /// Shows a progress line (nil ends it).
    func progress(_ line: String?) {
        state.withLock { state in
            if state.inPlace {
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + (line ?? "")).utf8))
                if line == nil { print("") }
            } else if let line {
                print(line)
            }
            state.line = line
        }
    }
}

struct ChaosFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
