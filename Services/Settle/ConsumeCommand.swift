import ArgumentParser
import Foundation
import Logging
import SettleKafka
import SettleRuntime

struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Read a topic as a consumer-group member and print one JSON line per message, committing each after it is printed."
    )

    @Option(help: "Topic to read.")
    var topic: String

    @Option(help: "Consumer group.")
    var group: String

    @Option(help: "Stop after this many messages (default: run until SIGTERM).")
    var limit: Int?

    func run() async throws {
        let environment = EnvironmentReader(StackEnvironment.load())
        let brokers = try environment.hostPortList("KAFKA_BROKERS", default: ServiceSettings.defaultKafkaBrokers)
        let logger = Logger(label: "settle-consume") { label in
            JSONLogHandler(label: label, service: "settle-consume", level: .warning)
        }
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: brokers, clientID: "settle-consume"),
            groupID: group,
            topics: [topic],
            logger: logger
        )
        let signals = [SIGTERM, SIGINT].map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal)
            Foundation.signal(signal, SIG_IGN)
            source.setEventHandler { Task { await consumer.shutdown() } }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        var count = 0
        for await message in consumer.messages {
            var line = "{\"partition\":\(message.partition),\"offset\":\(message.offset),\"key\":"
            JSONLogHandler.appendString(message.keyString ?? "", to: &line)
            line += ",\"value\":"
            JSONLogHandler.appendString(message.valueString, to: &line)
            line += "}\n"
            FileHandle.standardOutput.write(Data(line.utf8))
            try await consumer.commit(message)
            count += 1
            if let limit, count >= limit { break }
        }
        await consumer.shutdown()
    }
}
