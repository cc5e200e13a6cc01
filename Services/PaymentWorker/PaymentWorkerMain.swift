import AsyncHTTPClient
import SettleDomain
import SettleKafka
import SettleRuntime
import SettleStorage

/// `settle-worker`: charges orders and refunds them (see `PaymentWorker` and `PaymentHandler`).
@main
struct PaymentWorkerMain {
    static func main() async {
        await ServiceHost(
            name: "settle-worker",
            portVariable: "SETTLE_WORKER_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.worker,
            needs: [.redis, .kafka]
        ).run { context in
            let settings = try WorkerSettings(environment: context.environment)
            let kafka = KafkaConfiguration(bootstrapServers: context.settings.kafkaBrokers, clientID: "settle-worker")
            let consumer = try KafkaConsumer(configuration: kafka, groupID: settings.group, topics: settings.topics.consumed,
                                             logger: context.logger)
            let producer = try KafkaProducer(configuration: kafka, logger: context.logger)
            // /readyz asks the brokers through this producer's connections (and reports its fatal error).
            context.readiness.add(ReadinessCheck(name: "Kafka", address: context.settings.kafkaBrokers) { try await producer.checkBrokers() })
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.timeout = .init(connect: .seconds(2))
            configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)

            let deadLetters = DeadLetterStore(client: context.postgres, logger: context.logger, statementDeadline: settings.statementDeadline)
            let handler = PaymentHandler(
                store: PaymentStore(client: context.postgres, consumer: settings.group, logger: context.logger,
                                    statementDeadline: settings.statementDeadline),
                processor: ProcessorClient(http: http, baseURL: settings.processorURL, timeout: settings.processorTimeout),
                cache: OrderCache(redis: context.redis, lifetime: settings.cacheLifetime, logger: context.logger),
                logger: context.logger)
            let retry = RetryMiddleware(tries: settings.tries, backoff: settings.backoff, logger: context.logger)
            let retryTopics = RetryTopicMiddleware(producer: producer, topics: settings.topics, delays: settings.retryDelays,
                                                   group: settings.group, deadLetters: deadLetters, logger: context.logger)
            let pipeline = retryTopics.wrap(retry.wrap(handler.handle))
            let worker = PaymentWorker(consumer: consumer, pipeline: pipeline, topics: settings.topics, deadLetters: deadLetters,
                                       backoff: settings.backoff, longestDelay: settings.retryDelays.max() ?? .seconds(60),
                                       logger: context.logger)
            // Stopped in reverse: the worker finishes what it holds, then the HTTP client, the
            // producer (flushing retries and dead letters) and last the consumer, which leaves the group.
            return [consumer, producer, HTTPClientService(client: http), worker]
        }
    }
}
