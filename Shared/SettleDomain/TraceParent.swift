/// A W3C `traceparent` value (version 00, sampled) for a new trace: 16 random bytes of trace id
/// and 8 of span id, drawn as three 64-bit words.
public enum TraceParent {
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let words = (generator.next() as UInt64, generator.next() as UInt64, generator.next() as UInt64)
        return "00-\(hex(words.0))\(hex(words.1))-\(hex(words.2))-01"
    }

    private static func hex(_ word: UInt64) -> String {
        let digits = String(word, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
