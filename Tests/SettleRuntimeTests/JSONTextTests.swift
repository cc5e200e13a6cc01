import Foundation
import SettleDomain
import Testing

/// The hand-written JSON of the order path against Foundation's encoder, on random values.
@Suite("JSON text")
struct JSONTextTests {
    /// Every ASCII character, controls and DEL included, and letters, digits and symbols
    /// beyond it that sorting or escaping could treat differently.
    static let characters: [Character] = (0..<128).map { Character(Unicode.Scalar(UInt8($0))) }
        + ["é", "É", "ß", "ẞ", "İ", "ı", "中", "😀", "\u{2028}", "\u{2029}", "\u{FEFF}", "٣", "①", "Ａ", "a\u{301}"]

    static func randomString<G: RandomNumberGenerator>(_ generator: inout G, maxLength: Int = 12) -> String {
        String((0..<Int.random(in: 0...maxLength, using: &generator)).map { _ in characters.randomElement(using: &generator)! })
    }

    /// Keys that Foundation's ordering (numeric, case-insensitive) sorts unlike plain comparison.
    static func randomKey<G: RandomNumberGenerator>(_ generator: inout G) -> String {
        let parts = ["a", "A", "b", "B", "z", "_", "-", "1", "2", "9", "10", "01", "100", "é", "E", "ß", "SS", "中", " "]
        if Bool.random(using: &generator) { return randomString(&generator, maxLength: 4) }
        return (0..<Int.random(in: 1...4, using: &generator)).map { _ in parts.randomElement(using: &generator)! }.joined()
    }

    static func randomValue<G: RandomNumberGenerator>(_ generator: inout G, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0..<(depth < 3 ? 7 : 5), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Bool.random(using: &generator) ? Int64.random(in: -1000...1000, using: &generator)
                                                               : Int64.random(in: .min ... .max, using: &generator))
        case 3, 4: return .string(randomString(&generator))
        case 5: return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(&generator, depth: depth + 1) })
        default:
            var fields: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &generator) { fields[randomKey(&generator)] = randomValue(&generator, depth: depth + 1) }
            return .object(fields)
        }
    }

    @Test("An order's JSON is the bytes Foundation's encoder writes, for random orders")
    func orderMatchesFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3_000 {
            var metadata: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &generator) { metadata[Self.randomKey(&generator)] = Self.randomString(&generator) }
            let order = Order(id: UUIDv7.make(), merchantID: UUID(), amount: Int64.random(in: 1...99_999_999, using: &generator),
                              currency: Self.randomString(&generator, maxLength: 3), paymentMethod: Self.randomString(&generator),
                              description: Bool.random(using: &generator) ? Self.randomString(&generator, maxLength: 40) : nil,
                              metadata: metadata, status: OrderStatus.allCases.randomElement(using: &generator)!,
                              failureCode: Bool.random(using: &generator) ? Self.randomString(&generator) : nil,
                              createdAt: Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &generator)), version: 1)
            let expected = try SettleJSON.encode(order)
            #expect(order.json == expected, "\(String(decoding: order.json, as: UTF8.self)) ≠ \(String(decoding: expected, as: UTF8.self))")
        }
    }

    @Test("A body's canonical text is the bytes Foundation's encoder writes, for random values; a fraction is left to Foundation")
    func canonicalMatchesFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3_000 {
            let value = Self.randomValue(&generator)
            let written = try #require(JSONText.canonical(value))
            let expected = SettleJSON.bytes(value)
            #expect(written == expected, "\(String(decoding: written, as: UTF8.self)) ≠ \(String(decoding: expected, as: UTF8.self))")
        }
        #expect(JSONText.canonical(.object(["amount": .number(12.5)])) == nil)
        #expect(JSONText.canonical(.array([.integer(1), .number(0.1)])) == nil)
    }
}
