/// A W3C `traceparent` value (version 00, sampled) for a new trace: 16 random bytes of trace id
/// and 8 of span id, drawn as three 64-bit words.
public enum TraceParent {
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<3 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return "00-\(Hex.encode(bytes.prefix(16)))-\(Hex.encode(bytes.suffix(8)))-01"
    }
}
