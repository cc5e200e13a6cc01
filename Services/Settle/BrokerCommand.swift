import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SettleDomain
import SettleKafka
import SettleRuntime

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the development broker: librdkafka's in-memory mock cluster with Settle's topics and a loopback admin port for fault injection."
    )

    @Option(help: "Number of mock brokers.")
    var brokers = 3

    @Option(help: "Loopback port of the admin HTTP API (0: any free port, reported in the state file).")
    var adminPort = ServicePorts.defaultBase + ServicePorts.brokerAdmin

    @Option(help: "Where to write PID, KAFKA_BROKERS and ADMIN_URL once listening.")
    var stateFile: String?

    func run() async throws {
        let logger = try SettleLogging.bootstrap(service: "settle-broker")
        let cluster = try KafkaMockCluster(brokers: brokers)
        for topic in KafkaTopics.all {
            try cluster.createTopic(topic.name, partitions: topic.partitions)
        }
        let router = Router()
        BrokerAdminRouter.add(to: router, cluster: cluster)
        let stateFile = self.stateFile
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: adminPort), serverName: "settle-broker"),
            onServerRunning: { channel in
                let adminURL = "http://127.0.0.1:\(channel.localAddress?.port ?? adminPort)"
                logger.notice("development broker listening", metadata: [
                    "kafka.bootstrap_servers": "\(cluster.bootstrapServers)", "admin_url": "\(adminURL)",
                ])
                if let stateFile {
                    let state = BrokerState(pid: getpid(), bootstrapServers: cluster.bootstrapServers, adminURL: adminURL)
                    do { try state.write(to: URL(fileURLWithPath: stateFile)) } catch {
                        logger.error("cannot write \(stateFile): \(error)")
                    }
                }
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: application)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        cluster.destroy()
    }
}
