import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import SettleDomain
import SettleKafka
import SettleRedis
import SettleRuntime
import SettleStorage

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Check every part of the local stack; exits 0 only when each one answers."
    )

    func run() async throws {
        let environment = StackEnvironment.load()
        guard environment["KAFKA_BROKERS"] != nil, environment["DATABASE_URL"] != nil else {
            print("the local stack is not up (no \(StackEnvironment.directory().path)/stack.env); run `settle up`")
            throw ExitCode(1)
        }
        let reader = EnvironmentReader(environment)
        let logger = Logger(label: "settle-status") { _ in SwiftLogNoOpLogHandler() }
        let settings = try ServiceSettings(environment: reader, portVariable: "SETTLE_API_PORT", defaultPort: ServicePorts.defaultBase + ServicePorts.api)
        var healthy = true
        func report(_ name: String, _ address: String, _ check: () async throws -> String) async {
            do {
                let detail = try await check()
                print("ok    \(name.padding(toLength: 17, withPad: " ", startingAt: 0)) \(address)  \(detail)")
            } catch {
                healthy = false
                print("FAIL  \(name.padding(toLength: 17, withPad: " ", startingAt: 0)) \(address)  \(error)")
            }
        }

        // One connection of its own, so a failure says why (refused, unknown database, password).
        await report("PostgreSQL", DatabaseConfiguration.address(of: settings.databaseURL)) {
            do {
                try await DatabaseProbe.connect(url: settings.databaseURL, logger: logger)
            } catch {
                throw LocalProcess.Failure(description: DatabaseProbe.reason(error))
            }
            return "answers"
        }
        let redis = try RedisClient(url: settings.redisURL, logger: logger)
        await report("Redis", redis.address) {
            try await redis.ping()
            return "PONG"
        }
        await redis.shutdown()
        await report("Kafka", settings.kafkaBrokers) {
            let topics = try await KafkaMetadata.topics(bootstrapServers: settings.kafkaBrokers, timeout: .seconds(5))
            let missing = KafkaTopics.all.map(\.name).filter { topics[$0] == nil }
            guard missing.isEmpty else { throw LocalProcess.Failure(description: "missing topics: \(missing.joined(separator: ", "))") }
            return "\(topics.count) topics"
        }
        let layout = try StackLayout(environment: environment)
        for service in LocalService.all {
            await report(service.name, service.url(layout)) {
                guard await service.answers(path: "/readyz", layout) else {
                    throw LocalProcess.Failure(description: "not ready; see \(layout.log(service.name).path)")
                }
                return "ready, \(service.build(layout).map { "\($0.configuration) build" } ?? "not started by settle up")"
            }
        }
        let prometheus = LocalPrometheus(layout: layout)
        if prometheus.pid != nil {
            await report("Prometheus", prometheus.url) {
                guard await CLIHTTP.get(prometheus.url + "/-/ready") != nil else {
                    throw LocalProcess.Failure(description: "not ready; see \(layout.log("prometheus").path)")
                }
                let alerts = (await CLIHTTP.json(prometheus.url + "/api/v1/alerts")?["data"] as? [String: Any])?["alerts"] as? [[String: Any]]
                let firing = (alerts ?? []).filter { $0["state"] as? String == "firing" }.count
                return "ready, \(firing) alert(s) firing"
            }
        }
        if !healthy { throw ExitCode(1) }
    }
}
