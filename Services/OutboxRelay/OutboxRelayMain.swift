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
            let producer = try KafkaProducer(
                configuration: KafkaConfiguration(bootstrapServers: context.settings.kafkaBrokers, clientID: "settle-relay",
                                                  properties: ["message.timeout.ms": "0"]),
                logger: context.logger)
            let relay = OutboxRelay(databaseURL: context.settings.databaseURL, producer: producer, settings: settings, logger: context.logger)
            // Stopped in reverse: the relay finishes its batch, then the producer flushes.
            return [producer, relay]
        }
    }
}
