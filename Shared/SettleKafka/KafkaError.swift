import Crdkafka

/// An error reported by librdkafka or by Settle's Kafka client.
///
/// `code` is librdkafka's `rd_kafka_resp_err_t` value, so callers can match the broker's
/// error codes (`-185` is a local time-out, `6` is NOT_LEADER_OR_FOLLOWER, and so on).
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// librdkafka's error code.
    public let code: Int32
    /// A human-readable explanation.
    public let message: String
    /// The client cannot continue (for example a fenced idempotent producer).
    public let isFatal: Bool
    /// Trying the same operation again may succeed.
    public let isRetriable: Bool
    public let file: String
    public let line: Int

    public init(
        code: Int32,
        message: String,
        isFatal: Bool = false,
        isRetriable: Bool = false,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.file = file
        self.line = line
    }

    init(_ err: rd_kafka_resp_err_t, file: String = #fileID, line: Int = #line) {
        let text = String(cString: rd_kafka_err2str(err))
        self.init(code: err.rawValue, message: text, file: file, line: line)
    }

    init(takingOwnershipOf error: OpaquePointer, file: String = #fileID, line: Int = #line) {
        self.init(
            code: rd_kafka_error_code(error).rawValue,
            message: String(cString: rd_kafka_error_string(error)),
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            file: file,
            line: line
        )
        rd_kafka_error_destroy(error)
    }

    static func client(_ message: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__FAIL.rawValue, message: message, file: file, line: line)
    }

    static let shutDown = KafkaError(
        code: RD_KAFKA_RESP_ERR__DESTROY.rawValue,
        message: "the Kafka client has shut down"
    )

    public var description: String { "Kafka error \(code): \(message)" }
}
