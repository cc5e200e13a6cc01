/// A W3C `traceparent` value (version 00, sampled) for a new trace: 16 random bytes of trace id
/// and 8 of span id.
public enum TraceParent {
    public static func random() -> String {
        var bytes = [UInt8](repeating: 0, count: 24)
        bytes.withUnsafeMutableBytes { RandomPool.fill($0) }
        return "00-\(Hex.encode(bytes.prefix(16)))-\(Hex.encode(bytes.suffix(8)))-01"
    }
}
