import Foundation

/// The order's public JSON: ids in lower case, `created` in Unix seconds, absent optionals as
/// `null` (as Stripe renders them), keys sorted so the same order always has the same bytes.
extension Order: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, paymentMethod = "payment_method", description, metadata, status
        case failureCode = "failure_code", created
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.lowercased, forKey: .id)
        try container.encode("order", forKey: .object)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
        try container.encode(paymentMethod, forKey: .paymentMethod)
        try container.encode(description, forKey: .description)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(status, forKey: .status)
        try container.encode(failureCode, forKey: .failureCode)
        try container.encode(Int64(createdAt.timeIntervalSince1970.rounded(.down)), forKey: .created)
    }
}

extension UUID {
    /// The form ids take in JSON, URLs, Kafka keys and logs.
    /// Written from the bytes directly: `uuidString` formats with `snprintf` and `lowercased()`
    /// copies that again, and an order's path formats about six ids.
    public var lowercased: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { text in
                let digits = Hex.digits
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    text[at] = digits[Int(byte >> 4)]
                    text[at + 1] = digits[Int(byte & 0x0F)]
                    at += 2
                }
                return at
            }
        }
    }
}
