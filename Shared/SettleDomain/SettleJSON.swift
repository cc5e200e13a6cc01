import Foundation

/// One JSON encoding for everything Settle emits, so equal objects are equal bytes
/// (idempotent replays compare and return stored bytes).
public enum SettleJSON {
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
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
