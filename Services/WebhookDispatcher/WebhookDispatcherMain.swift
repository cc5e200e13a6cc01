import AsyncHTTPClient
import SettleDomain
import SettleKafka
import SettleRuntime
import SettleStorage

/// `settle-dispatcher`: turns each event on `payments.v1` into a delivery per subscribed
/// webhook endpoint (`EventFanOut`) and sends the deliveries from the table on their retry
/// schedule (`DeliverySender`).
@main
struct WebhookDispatcherMain {
    static func main() async {
        await ServiceHost(
            name: "settle-dispatcher",
            portVariable: "SETTLE_DISPATCHER_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.dispatcher,
            needs: [.kafka]
        ).run { context in
            let settings = try DispatcherSettings(environment: context.environment)
            let kafka = KafkaConfiguration(bootstrapServers: context.settings.kafkaBrokers, clientID: "settle-dispatcher")
            let consumer = try KafkaConsumer(configuration: kafka, groupID: settings.group, topics: [settings.topic], logger: context.logger)
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.timeout = .init(connect: .seconds(5))
            configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.perEndpoint)
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            let store = WebhookDeliveryStore(client: context.postgres, logger: context.logger, statementDeadline: settings.statementDeadline)
            let doorbell = Doorbell()
            let sender = DeliverySender(
                store: store,
                sender: WebhookSender(http: http, destination: WebhookDestination(policy: settings.addresses), timeout: settings.timeout),
                settings: settings, doorbell: doorbell, logger: context.logger)
            // Stopped in reverse: the sender finishes its deliveries in flight, the fan-out stops
            // reading, and last the consumer leaves the group.
            return [consumer, EventFanOut(consumer: consumer, store: store, doorbell: doorbell, logger: context.logger), sender,
                    CircuitGauge(store: store)]
        }
    }
}
