import SettleDomain
import SettleKafka
import SettleRuntime

/// `settle-relay`: publishes the outbox to Kafka (see `OutboxRelay`).
@main
struct OutboxRelayMain {
    static func main() async {
        await ServiceHost(
            name: "settle-relay",
            portVariable: "SETTLE_RELAY_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.relay,
            needs: [.kafka],
            valueBuckets: [OutboxRelay.batchSizeMetric: SettleMetrics.sizeBuckets]
        ).run { context in
            let settings = try RelaySettings(environment: context.environment)
            // A send never expires: while the broker is away the relay waits rather than fail a
            // message and send the next one of its key first.
            let configuration = KafkaConfiguration(bootstrapServers: context.settings.kafkaBrokers, clientID: "settle-relay",
                                                   properties: ["message.timeout.ms": "0"])
            let logger = context.logger
            let producers = try RelayProducer(logger: logger) { try KafkaProducer(configuration: configuration, logger: logger) }
            context.readiness.add(ReadinessCheck(name: "Kafka", address: context.settings.kafkaBrokers) { try await producers.checkReady() })
            // The relay owns the producer: it replaces one that hit a fatal error, and flushes it
            // after its last round.
            return [OutboxRelay(databaseURL: context.settings.databaseURL, producers: producers, settings: settings, logger: logger)]
        }
    }
}
