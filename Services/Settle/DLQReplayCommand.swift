import ArgumentParser
import Foundation
import Logging
import SettleKafka
import SettleRuntime
import SettleStorage

struct DLQReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Send dead-lettered messages back to their original topic, counting how often each was dead-lettered; one dead-lettered more than --max-dead-letters times goes to the parking topic instead."
    )

    @Option(help: "Only dead letters of this dead-letter topic (e.g. orders.v1.dlq).")
    var topic: String?

    @Option(help: "What to replay: a dead letter's id (from `settle dlq list`), its event id, or its key (the order id).")
    var id: String?

    @Flag(help: "Replay every dead letter not replayed yet.")
    var all = false

    @Option(help: "A message dead-lettered more than this many times is parked (<original topic>.parked) instead of replayed.")
    var maxDeadLetters = 3

    func validate() throws {
        guard (id == nil) != !all else { throw ValidationError("give either --id ID or --all") }
        guard maxDeadLetters >= 1 else { throw ValidationError("--max-dead-letters must be at least 1") }
    }

    func run() async throws {
        for line in try await Self.replay(id: id, topic: topic, maxDeadLetters: maxDeadLetters, environment: StackEnvironment.load()) {
            print(line)
        }
    }

    /// Replays the open dead letters `id` names (a dead letter's id, its event id or its key), or
    /// every open one of `topic` (all topics when nil); returns a line per message sent.
    static func replay(id: String?, topic: String?, maxDeadLetters limit: Int, environment: [String: String]) async throws -> [String] {
        let brokers = try EnvironmentReader(environment).hostPortList("KAFKA_BROKERS", default: ServiceSettings.defaultKafkaBrokers)
        return try await CLIDatabase.with(environment: environment, name: "settle-dlq") { client, logger in
            let store = DeadLetterStore(client: client, logger: logger)
            var letters: [DeadLetter]
            if let id { letters = try await store.open(id: id) } else { letters = try await store.open(topic: topic) }
            if let topic { letters = letters.filter { $0.topic == topic } }
            guard !letters.isEmpty else {
                throw LocalProcess.Failure(description: id.map { "no dead letter \($0) waits for a replay; see `settle dlq list`" }
                                           ?? "nothing to replay")
            }
            let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: brokers, clientID: "settle-dlq"),
                                             logger: logger)
            var lines: [String] = []
            do {
                for letter in letters {
                    let destination = letter.deadLetterCount > limit ? letter.originalTopic + ".parked" : letter.originalTopic
                    let headers = letter.headers.map { KafkaHeader(key: $0.key, value: $0.value) }
                        + [KafkaHeader(key: "dlq-count", value: String(letter.deadLetterCount))]
                    // Sent before it is marked: a crash in between sends it twice, with its event id, which consumers drop.
                    try await producer.send(KafkaProducerMessage(topic: destination, key: letter.key.map { Array($0.utf8) },
                                                                 value: letter.payload, headers: headers))
                    guard try await store.markReplayed(letter.id, to: destination) else { continue }
                    let verb = destination == letter.originalTopic ? "replayed to" : "parked on"
                    lines.append("\(letter.id)  \(letter.eventID?.lowercased ?? "-")  \(verb) \(destination) "
                                 + "(dead-lettered \(letter.deadLetterCount) time\(letter.deadLetterCount == 1 ? "" : "s"))")
                }
            } catch {
                await producer.shutdown()
                throw error
            }
            await producer.shutdown()
            return lines
        }
    }
}
