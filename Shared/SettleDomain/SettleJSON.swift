import Foundation

/// One JSON encoding for everything Settle emits, so equal objects are equal bytes
/// (idempotent replays compare and return stored bytes).
public enum SettleJSON {
    /// One encoder for every call: configured once and never changed, so encoding with it from
    /// several threads at once is safe, and no call pays for making one.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The decoder request bodies are read with, made once likewise.
    public static let decoder = JSONDecoder()

    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    /// Encodes values that cannot fail to encode (plain structs of strings and numbers).
    public static func bytes(_ value: some Encodable) -> [UInt8] {
        do {
            return try encode(value)
        } catch {
            preconditionFailure("encoding \(type(of: value)) cannot fail: \(error)")
        }
    }
}
