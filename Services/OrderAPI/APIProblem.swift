import HTTPTypes
import Foundation
import Hummingbird
import SettleDomain

/// An RFC 9457 problem document (`application/problem+json`) with a stable `code` and, where
/// it applies, the `param` at fault. Every error the API answers is one of these.
struct APIProblem: HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var detail: String
    var param: String?
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: String, detail: String, param: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.detail = detail
        self.param = param
        self.headers = headers
    }

    private struct Document: Encodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
        var param: String?
    }

    /// The problem document's bytes.
    var body: [UInt8] {
        SettleJSON.bytes(Document(type: "urn:settle:problem:\(code)", title: status.reasonPhrase, status: status.code,
                                  detail: detail, code: code, param: param))
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension APIProblem {
    static func validation(_ failure: ValidationFailure) -> APIProblem {
        APIProblem(.badRequest, code: failure.code, detail: failure.message, param: failure.param)
    }

    static func unauthorized(_ detail: String) -> APIProblem {
        APIProblem(.unauthorized, code: "api_key_invalid", detail: detail, headers: [.wwwAuthenticate: "Bearer"])
    }

    static func notFound(_ what: String, _ id: String) -> APIProblem {
        APIProblem(.notFound, code: "resource_missing", detail: "No such \(what): '\(id.prefix(100))'.", param: "id")
    }

    /// The write was sent and its answer lost or late: the request may or may not have taken effect.
    static func outcomeUnknown() -> APIProblem {
        APIProblem(.serviceUnavailable, code: "outcome_unknown",
                   detail: "This request was sent to the database but its commit was not confirmed (the connection was lost, or the answer was too slow), so it may or may not have taken effect. Retry with the same Idempotency-Key: if it did, the first answer is replayed; a retry without one may create it twice.",
                   headers: [.retryAfter: "1"])
    }

    static func databaseUnavailable() -> APIProblem {
        APIProblem(.serviceUnavailable, code: "database_unavailable",
                   detail: "The database is unavailable; nothing was created. Retry with the same Idempotency-Key.",
                   headers: [.retryAfter: "1"])
    }
}
