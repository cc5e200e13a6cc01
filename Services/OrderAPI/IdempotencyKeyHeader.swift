import HTTPTypes
import Hummingbird

/// The `Idempotency-Key` request header: optional, 1 to 255 printable ASCII characters.
enum IdempotencyKeyHeader {
    static let name = HTTPField.Name("Idempotency-Key")!
    static let replayed = HTTPField.Name("Idempotent-Replayed")!

    static func read(_ request: Request) throws -> String? {
        guard let key = request.headers[name] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIProblem(.badRequest, code: "idempotency_key_invalid",
                             detail: "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.", param: "Idempotency-Key")
        }
        return key
    }
}
