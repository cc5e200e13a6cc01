import Foundation

/// JSON text written byte for byte as `SettleJSON`'s encoder writes it (keys sorted by their UTF-8
/// bytes, slashes not escaped), for the two documents every `POST /v1/orders` makes: the
/// order it answers with and the canonical form of its body that `Idempotency-Key` compares.
/// Foundation's encoder was a sixth of the API's CPU per order, nearly all of it generic
/// machinery; these few shapes need none of it. `JSONTextTests` holds both writers to
/// Foundation's output on random values, so anything else keeps going through `SettleJSON`.
public struct JSONText {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Text that is already JSON (punctuation and keys known to need no escaping).
    public mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public mutating func null() {
        raw("null")
    }

    public mutating func bool(_ value: Bool) {
        value ? raw("true") : raw("false")
    }

    public mutating func integer(_ value: Int64) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A string, escaped as Foundation escapes it: quote, backslash and the control characters
    /// below U+0020 (the five with a short form use it); everything else as its UTF-8.
    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw(#"\""#)
            case UInt8(ascii: "\\"): raw(#"\\"#)
            case 0x08: raw(#"\b"#)
            case 0x0C: raw(#"\f"#)
            case 0x0A: raw(#"\n"#)
            case 0x0D: raw(#"\r"#)
            case 0x09: raw(#"\t"#)
            case 0x00..<0x20:
                raw(#"\u00"#)
                bytes.append(Hex.digits[Int(byte >> 4)])
                bytes.append(Hex.digits[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    /// An object of strings, its keys in Foundation's order.
    public mutating func object(_ value: [String: String]) {
        bytes.append(UInt8(ascii: "{"))
        for (index, key) in Self.sortedKeys(value).enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(key)
            bytes.append(UInt8(ascii: ":"))
            string(value[key]!)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    /// A value's canonical text, or nil if it holds a number that is not an integer: how
    /// Foundation writes a double is Foundation's to say, so such a value goes through it.
    public static func canonical(_ value: JSONValue) -> [UInt8]? {
        var text = JSONText()
        return text.write(value) ? text.bytes : nil
    }

    private mutating func write(_ value: JSONValue) -> Bool {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .integer(let number): integer(number)
        case .number: return false
        case .string(let text): string(text)
        case .array(let values):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                guard write(element) else { return false }
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let fields):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in Self.sortedKeys(fields).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                guard write(fields[key]!) else { return false }
            }
            bytes.append(UInt8(ascii: "}"))
        }
        return true
    }

    /// The order Foundation's `sortedKeys` writes keys in: by their UTF-8 bytes (so neither
    /// numeric, nor case-blind, nor Unicode-normalized).
    static func sortedKeys<Value>(_ fields: [String: Value]) -> [String] {
        fields.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}

extension Order {
    /// The order's public JSON, the same bytes as `SettleJSON.encode(order)` (see `Encodable`).
    public var json: [UInt8] {
        var text = JSONText()
        text.raw(#"{"amount":"#)
        text.integer(amount)
        text.raw(#","created":"#)
        text.integer(Int64(createdAt.timeIntervalSince1970.rounded(.down)))
        text.raw(#","currency":"#)
        text.string(currency)
        text.raw(#","description":"#)
        text.string(description)
        text.raw(#","failure_code":"#)
        text.string(failureCode)
        text.raw(#","id":"#)
        text.string(id.lowercased)
        text.raw(#","metadata":"#)
        text.object(metadata)
        text.raw(#","object":"order","payment_method":"#)
        text.string(paymentMethod)
        text.raw(#","status":"#)
        text.string(status.rawValue)
        text.raw("}")
        return text.bytes
    }
}
