import Crypto
import Foundation
import Hummingbird
import SettleDomain

/// A request body read the way every POST reads it: `application/json` only (else 415), at most
/// 64 KiB (else 413), well-formed JSON (else 400 `invalid_json`). An empty body is `{}`.
struct JSONRequestBody: Sendable {
    var value: JSONValue

    static func read(_ request: Request, context: APIRequestContext) async throws -> JSONRequestBody {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        if buffer.readableBytes == 0 { return JSONRequestBody(value: .object([:])) }
        let mediaType = request.headers[.contentType].map(Self.mediaType)
        guard mediaType == "application/json" else {
            throw APIProblem(.unsupportedMediaType, code: "unsupported_media_type",
                             detail: "Send the body as application/json (got \(mediaType.map { "'\($0.prefix(100))'" } ?? "no Content-Type")).")
        }
        let data = Data(buffer.readableBytesView)
        // A body is an object but for mistakes: asked for one first, the decoder does not try
        // (and throw for) a string, an integer, a number and a boolean before it.
        if let fields = try? SettleJSON.decoder.decode([String: JSONValue].self, from: data) {
            return JSONRequestBody(value: .object(fields))
        }
        do {
            return JSONRequestBody(value: try SettleJSON.decoder.decode(JSONValue.self, from: data))
        } catch {
            throw APIProblem(.badRequest, code: "invalid_json", detail: "The request body is not valid JSON.")
        }
    }

    /// A Content-Type's media type, without parameters or surrounding spaces, lower case
    /// (`Application/JSON; charset=utf-8` → `application/json`).
    static func mediaType(_ value: String) -> String {
        let type = value.utf8.prefix { $0 != UInt8(ascii: ";") }
        let trimmed = type.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let end = trimmed.lastIndex { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard let end else { return "" }
        return String(decoding: trimmed[...end].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// The body of a POST that takes no parameters: empty or `{}`; anything else is a 400.
    static func readNoParameters(_ request: Request, context: APIRequestContext) async throws -> JSONRequestBody {
        let body = try await read(request, context: context)
        guard case .object(let fields) = body.value else {
            throw APIProblem(.badRequest, code: "invalid_body", detail: "The request body must be a JSON object.")
        }
        if let unknown = fields.keys.sorted().first { throw APIProblem.validation(.unknown(unknown)) }
        return body
    }

    /// SHA-256 of the body's canonical form (keys sorted): the same parameters sent with other
    /// spacing or key order are the same request for `Idempotency-Key` purposes.
    var canonicalHash: [UInt8] {
        Array(SHA256.hash(data: JSONText.canonical(value) ?? SettleJSON.bytes(value)))
    }
}
