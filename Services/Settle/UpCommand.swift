import ArgumentParser
import Foundation
import SettleDomain
import SettleKafka
import SettleRuntime

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start the local stack (PostgreSQL, Redis, the development broker, Settle's services) under .settle/; harmless to run twice."
    )

    @Flag(help: "Run Settle's services from release builds (`swift build -c release`, run now), as production would: what a load test should measure. Without it they run from this settle's own build; services running from the other build are restarted.")
    var release = false

    @Flag(help: "Also run Prometheus (Debian's prometheus package) on 127.0.0.1, SETTLE_PORT_BASE + 98, scraping every service, with deploy/prometheus/rules.yml's alerts and SLO rules loaded.")
    var observe = false

    func run() async throws {
        let layout = try StackLayout()
        try layout.prepareDirectories()
        try DebianPackages.ensureInstalled(observe ? ["prometheus"] : [])
        let build = release
            ? try await LocalBuild.release(packageRoot: layout.root.deletingLastPathComponent(), log: layout.log("build-release"))
            : LocalBuild.current

        let postgres = LocalPostgres(layout: layout)
        try postgres.start()

        try LocalRedis(layout: layout).start()

        let broker = try await startBroker(layout)

        let values = [
            ("DATABASE_URL", layout.databaseURL),
            ("REDIS_URL", layout.redisURL),
            ("KAFKA_BROKERS", broker),
            ("SETTLE_BROKER_ADMIN_URL", layout.brokerAdminURL),
            ("SETTLE_PORT_BASE", "\(layout.portBase)"),
            // Webhooks may go to loopback on this machine (the stack's sink), never to private ranges.
            ("SETTLE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128"),
        ] + LocalService.all.compactMap { service in service.urlVariable.map { ($0, service.url(layout)) } }
        let text = "# Written by `settle up`; every settle command and test reads it.\n"
            + values.map { "\($0.0)=\($0.1)" }.joined(separator: "\n") + "\n"
        try text.write(to: layout.stackEnv, atomically: true, encoding: .utf8)

        // Migrations now, so the stack is ready for the services and the tests.
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in values { environment[key] = value }
        try await MigrateCommand.migrate(environment: environment)
        for service in LocalService.all {
            try await service.start(layout, environment: environment, build: build)
        }
        let demo = try await DemoAccount.ensure(file: layout.demoEnv, environment: environment,
                                                sinkURL: "http://127.0.0.1:\(layout.portBase + ServicePorts.sink)")
        let prometheus = LocalPrometheus(layout: layout)
        if observe { try await prometheus.start() }

        print("""
        Settle's local stack is up, its services from the \(build.configuration) build (\(build.directory.path)):
          PostgreSQL       \(layout.databaseURL)
          Redis            \(layout.redisURL)
          Kafka            \(broker)   (development broker: librdkafka's in-memory mock cluster)
          broker admin     \(layout.brokerAdminURL)
        \(LocalService.all.map { "  \($0.name.padding(toLength: 17, withPad: " ", startingAt: 0)) \($0.url(layout))" }.joined(separator: "\n"))
        \(prometheus.pid != nil ? "  Prometheus       \(prometheus.url)   (alerts: \(prometheus.url)/classic/alerts, API: \(prometheus.url)/api/v1/alerts)\n" : "")  settings         \(layout.stackEnv.path)
          logs             \(layout.logs.path)/
        Demo merchant "Demo shop" \(demo.merchant.lowercased), its API key in \(layout.demoEnv.path),
        its webhook endpoint \(demo.endpoint?.lowercased ?? "(none)") at the sink: source both files and try
          curl -s -X POST "$SETTLE_API_URL/v1/orders" -H "Authorization: Bearer $SETTLE_DEMO_API_KEY" \\
            -H "Content-Type: application/json" -d '{"amount":1299,"currency":"usd","payment_method":"pm_card_ok"}'
        """)
    }

    private func startBroker(_ layout: StackLayout) async throws -> String {
        if let state = BrokerState.read(layout.brokerStateFile), LocalProcess.isAlive(state.pid) {
            return state.bootstrapServers
        }
        try? FileManager.default.removeItem(at: layout.brokerStateFile)
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let settle = FileManager.default.isExecutableFile(atPath: executable) ? executable : (LocalProcess.which("settle") ?? executable)
        try LocalProcess.spawnDetached(settle, [
            "broker", "--admin-port", "\(layout.brokerAdminPort)", "--state-file", layout.brokerStateFile.path,
        ], log: layout.log("broker"))
        let started = await LocalProcess.wait(for: .seconds(30)) { BrokerState.read(layout.brokerStateFile) != nil }
        guard started, let state = BrokerState.read(layout.brokerStateFile) else {
            throw ValidationError("the development broker did not start; see \(layout.log("broker").path)")
        }
        return state.bootstrapServers
    }
}
