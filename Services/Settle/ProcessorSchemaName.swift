/// The PostgreSQL schema the card-processor simulator keeps its state in.
///
/// Schema names cannot be bound as query parameters, so the name reaches SQL through
/// `\(unescaped:)`; it is checked here against `^[a-z_][a-z0-9_]{0,62}$` first, which leaves
/// nothing that could end an identifier or start another statement.
struct ProcessorSchemaName: Sendable, CustomStringConvertible {
    let description: String

    static let `default` = ProcessorSchemaName(checked: "processor")

    private init(checked: String) {
        description = checked
    }

    /// - Returns: nil unless `text` is a lower-case identifier of 1 to 63 characters.
    init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 63 else { return nil }
        func isLetter(_ byte: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || byte == UInt8(ascii: "_") }
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        guard isLetter(first), bytes.dropFirst().allSatisfy({ isLetter($0) || isDigit($0) }) else { return nil }
        description = text
    }
}
