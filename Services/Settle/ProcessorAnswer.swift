import HTTPTypes
import Hummingbird
import SettleDomain

/// A status and the exact body bytes the simulator answers; final answers are stored under their
/// idempotency key and replayed byte for byte.
struct ProcessorAnswer: Sendable, Equatable {
    var status: Int
    var body: [UInt8]

    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    /// `{"error":{"code":…,"message":…}}`, the shape of every answer that is not a success.
    static func error(_ status: Int, code: String, message: String) -> ProcessorAnswer {
        let value = JSONValue.object(["error": .object(["code": .string(code), "message": .string(message)])])
        return ProcessorAnswer(status: status, body: SettleJSON.bytes(value))
    }

    static func json(_ status: Int, _ text: String) -> ProcessorAnswer {
        ProcessorAnswer(status: status, body: Array(text.utf8))
    }

    /// Always `application/json`, even for the poison body that is not JSON: that mismatch is the point.
    func response(replayed: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[Self.replayedHeader] = "true" }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
