import Foundation
import Hummingbird
import SettleDomain

/// A `/charges`, `/refunds` or `/faults` body: a JSON object, read with the fields' kinds kept,
/// so bad input is a 400 naming the field and never a 500.
struct ProcessorRequestBody: Sendable {
    var fields: [String: JSONValue]

    static func read(_ request: Request, context: ProcessorRequestContext) async throws -> ProcessorRequestBody {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw ProcessorError(413, code: "body_too_large", message: "The request body is over \(context.maxUploadSize) bytes.")
        }
        // An empty body is an empty object: `POST /faults` with nothing to change reads the faults.
        if buffer.readableBytes == 0 { return ProcessorRequestBody(fields: [:]) }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView)) else {
            throw ProcessorError.badRequest("invalid_json", "The request body is not valid JSON.")
        }
        guard case .object(let fields) = value else {
            throw ProcessorError.badRequest("invalid_json", "The request body must be a JSON object, got \(value.kind).")
        }
        return ProcessorRequestBody(fields: fields)
    }

    func orderID() throws -> UUID {
        let text = try string("order_id")
        guard let id = UUID(uuidString: text) else {
            throw ProcessorError.badRequest("parameter_invalid", "order_id must be a UUID, got \"\(text.prefix(40))\".")
        }
        return id
    }

    /// Minor units, 1 to 99,999,999, as Settle's API accepts them.
    func amount() throws -> Int64 {
        switch fields["amount"] {
        case nil, .null?:
            throw ProcessorError.badRequest("parameter_missing", "amount is required.")
        case .integer(let value)? where (1...99_999_999).contains(value):
            return value
        case let other?:
            throw ProcessorError.badRequest("parameter_invalid", "amount must be an integer from 1 to 99999999, got \(other.kind).")
        }
    }

    /// Three ASCII letters, answered in lower case.
    func currency() throws -> String {
        let text = try string("currency")
        guard text.utf8.count == 3, text.utf8.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) }) else {
            throw ProcessorError.badRequest("parameter_invalid", "currency must be three letters such as \"usd\", got \"\(text.prefix(20))\".")
        }
        return text.lowercased()
    }

    func string(_ name: String) throws -> String {
        switch fields[name] {
        case nil, .null?:
            throw ProcessorError.badRequest("parameter_missing", "\(name) is required.")
        case .string(let text)? where !text.isEmpty:
            return text
        case let other?:
            throw ProcessorError.badRequest("parameter_invalid", "\(name) must be a non-empty string, got \(other.kind).")
        }
    }
}
