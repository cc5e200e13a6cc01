import Foundation

/// RFC 9562 version 7 UUIDs: a 48-bit Unix-millisecond timestamp, then random bits. Ids made
/// later sort after ids made earlier, so a B-tree index on them stays append-mostly and list
/// pages ordered by id are ordered by creation.
public enum UUIDv7 {
    public static func make(at date: Date = Date()) -> UUID {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes.withUnsafeMutableBytes { RandomPool.fill($0) }
        for index in 0..<6 {
            bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - UInt64(index))))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// When a version 7 id was made (to the millisecond); nil for an id of another version.
    public static func date(of id: UUID) -> Date? {
        let bytes = id.uuid
        guard bytes.6 >> 4 == 7 else { return nil }
        let milliseconds = [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
