import ArgumentParser
import Foundation
import SettleDomain
import SettleRuntime
import SettleStorage

struct DLQListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List dead-lettered messages not replayed yet: why each failed, and how often it has been dead-lettered."
    )

    @Option(help: "Only this dead-letter topic (e.g. orders.v1.dlq).")
    var topic: String?

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func run() async throws {
        let topic = self.topic
        let letters = try await CLIDatabase.with(environment: StackEnvironment.load(), name: "settle-dlq") { client, logger in
            try await DeadLetterStore(client: client, logger: logger).open(topic: topic)
        }
        if json {
            for letter in letters { print(String(decoding: SettleJSON.bytes(Row(letter)), as: UTF8.self)) }
            return
        }
        guard !letters.isEmpty else {
            print("nothing dead-lettered\(topic.map { " on \($0)" } ?? "")")
            return
        }
        let header = ["ID", "TOPIC", "KEY", "EVENT", "ERROR CLASS", "TIMES", "TRIES", "DEAD-LETTERED AT", "ERROR"]
        let rows = letters.map { letter in
            [String(letter.id), letter.topic, letter.key ?? "-", letter.eventID?.lowercased ?? "-", letter.errorClass,
             String(letter.deadLetterCount), String(letter.attempts), ISO8601DateFormatter().string(from: letter.createdAt),
             String(letter.errorMessage.prefix(80))]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for line in [header] + rows {
            print(line.enumerated().map { index, cell in
                index == line.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
        }
        print("\(letters.count) dead-lettered; replay with `settle dlq replay --id ID` or `--all`")
    }

    /// A dead letter as `--json` prints it.
    struct Row: Encodable {
        var id: Int64
        var topic: String
        var originalTopic: String
        var key: String?
        var eventID: String?
        var errorClass: String
        var errorMessage: String
        var deadLetterCount: Int
        var attempts: Int
        var firstFailedAt: String
        var deadLetteredAt: String

        init(_ letter: DeadLetter) {
            let format = ISO8601DateFormatter()
            id = letter.id
            topic = letter.topic
            originalTopic = letter.originalTopic
            key = letter.key
            eventID = letter.eventID?.lowercased
            errorClass = letter.errorClass
            errorMessage = letter.errorMessage
            deadLetterCount = letter.deadLetterCount
            attempts = letter.attempts
            firstFailedAt = format.string(from: letter.firstFailedAt)
            deadLetteredAt = format.string(from: letter.createdAt)
        }

        enum CodingKeys: String, CodingKey {
            case id, topic, key, attempts
            case originalTopic = "original_topic", eventID = "event_id", errorClass = "error_class", errorMessage = "error_message"
            case deadLetterCount = "dead_letter_count", firstFailedAt = "first_failed_at", deadLetteredAt = "dead_lettered_at"
        }
    }
}
