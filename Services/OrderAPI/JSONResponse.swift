import HTTPTypes
import Hummingbird
import SettleDomain

/// Responses carrying JSON bytes as they are (idempotent replays must be byte for byte).
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ body: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = status.code >= 400 ? "application/problem+json" : "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func make(_ status: HTTPResponse.Status, encoding value: some Encodable) throws -> Response {
        make(status, try SettleJSON.encode(value))
    }
}
