import Foundation
import Logging
import SettleRuntime
import Synchronization
import Testing

@Suite("Runtime")
struct RuntimeTests {
    @Test("A malformed variable is an error naming it and the expected form; a missing one takes the default")
    func environmentErrors() throws {
        let reader = EnvironmentReader(["SETTLE_API_PORT": "abc", "KAFKA_BROKERS": "nonsense", "DATABASE_URL": "mysql://x"])
        #expect(throws: ConfigurationError(variable: "SETTLE_API_PORT", expected: "a TCP port from 1 to 65535", actual: "abc")) {
            try reader.port("SETTLE_API_PORT", default: 7180)
        }
        #expect(throws: ConfigurationError.self) { try reader.hostPortList("KAFKA_BROKERS", default: "127.0.0.1:9092") }
        #expect(throws: ConfigurationError.self) { try reader.url("DATABASE_URL", default: "", schemes: ["postgres"]) }
        #expect(try reader.port("UNSET_PORT", default: 7180) == 7180)
        #expect(try EnvironmentReader(["B": "a:1, b:2"]).hostPortList("B", default: "") == "a:1,b:2")
        let error = ConfigurationError(variable: "SETTLE_API_PORT", expected: "a TCP port from 1 to 65535", actual: "abc")
        #expect(error.description == "SETTLE_API_PORT must be a TCP port from 1 to 65535, got 'abc'")
    }

    @Test("Full-jitter backoff stays within 0 … min(cap, base·2ⁿ) and grows to the cap")
    func backoff() {
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(5))
        #expect(backoff.ceiling(attempt: 0) == .milliseconds(100))
        #expect(backoff.ceiling(attempt: 3) == .milliseconds(800))
        #expect(backoff.ceiling(attempt: 10) == .seconds(5))
        var delays: [Duration] = []
        for attempt in 0..<8 {
            for _ in 0..<200 {
                let delay = backoff.delay(attempt: attempt)
                #expect(delay >= .zero && delay <= backoff.ceiling(attempt: attempt))
                delays.append(delay)
            }
        }
        #expect(Set(delays).count > 100, "delays are jittered, not fixed")
    }

    @Test("JSON log lines carry time, level, message, service and metadata, escaped; Hummingbird's request id as request_id")
    func jsonLogLine() throws {
        let lines = LogCapture()
        var handler = JSONLogHandler(label: "test", service: "settle-test", level: .info, output: JSONLogOutput { lines.append($0) })
        handler[metadataKey: "order_id"] = "ord_1"
        handler[metadataKey: "hb.request.id"] = "7f3a-12"
        handler[metadataKey: "attempt"] = "1"
        handler[metadataKey: "level"] = "not the line's"
        handler[metadataKey: "trace_id"] = "the handler's"
        handler[metadataKey: "city"] = "Zürich"
        handler.metadataProvider = Logger.MetadataProvider { ["trace_id": "4bf9", "attempt": "provided"] }
        let logger = Logger(label: "test") { _ in handler }
        logger.info("charged \"quoted\"\nline, café\u{01}", metadata: ["attempt": "2", "nested": ["a": "b"]])
        logger.debug("below the level")
        logger.info("bell\u{07}")
        let captured = lines.all
        #expect(captured.count == 2)
        #expect(captured.last?.contains(#""message":"bell\u0007""#) == true, "a control character alone is escaped too: \(captured)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(captured[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info")
        #expect(object["message"] as? String == "charged \"quoted\"\nline, café\u{01}")
        #expect(captured[0].contains(#"café\u0001""#), "\(captured[0])")
        #expect(object["trace_id"] as? String == "4bf9", "the provider's metadata wins over the handler's")
        #expect(captured[0].contains(#""city":"Zürich""#), "text with nothing to escape is copied as it is: \(captured[0])")
        #expect(object["service"] as? String == "settle-test")
        #expect(object["order_id"] as? String == "ord_1")
        #expect(object["attempt"] as? String == "2", "the call's metadata wins over the provider's and the handler's")
        #expect(captured[0].components(separatedBy: "\"attempt\"").count == 2 && captured[0].components(separatedBy: "\"level\"").count == 2,
                "each key once: \(captured[0])")
        #expect((object["nested"] as? [String: String]) == ["a": "b"])
        #expect((object["time"] as? String)?.hasSuffix("Z") == true)
        #expect(object["request_id"] as? String == "7f3a-12")
        #expect(object["hb.request.id"] == nil)
    }

    @Test("stack.env lines parse into variables; comments and blanks are skipped")
    func stackEnvironmentParsing() {
        let values = StackEnvironment.parse("# comment\nDATABASE_URL=postgres://settle@127.0.0.1:7132/settle\n\nKAFKA_BROKERS='a:1,b:2'\n")
        #expect(values == ["DATABASE_URL": "postgres://settle@127.0.0.1:7132/settle", "KAFKA_BROKERS": "a:1,b:2"])
    }
}

final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
