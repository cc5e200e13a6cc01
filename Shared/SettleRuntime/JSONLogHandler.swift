import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif
import Logging
import Synchronization

/// A swift-log handler writing one JSON object per line:
/// `{"time":…,"level":…,"message":…,"service":…, …metadata}`, metadata keys sorted.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let service: String
    private let output: JSONLogOutput

    public init(label: String, service: String, level: Logger.Level, output: JSONLogOutput = .standardError) {
        self.label = label
        self.service = service
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The three sources of metadata, later ones winning a key: the handler's, the provider's
        // (the current trace), the call's. Collected in a small array rather than merged
        // dictionaries: a line is written for every order and event at info.
        var entries: [(key: String, rank: Int, value: Logger.MetadataValue)] = []
        entries.reserveCapacity(16)
        for (rank, source) in [metadata, metadataProvider?.get(), event.metadata].enumerated() {
            for (key, value) in source ?? [:] where !JSONLogHandler.reserved.contains(key) {
                entries.append((key == JSONLogHandler.hummingbirdRequestID ? "request_id" : key, rank, value))
            }
        }
        entries.sort { $0.key != $1.key ? $0.key < $1.key : $0.rank > $1.rank }

        var line = ""
        line.reserveCapacity(512)
        line += "{\"time\":"
        JSONLogHandler.appendString(JSONLogHandler.timestamp(), to: &line)
        line += ",\"level\":"
        JSONLogHandler.appendString(event.level.rawValue, to: &line)
        line += ",\"message\":"
        JSONLogHandler.appendString(event.message.description, to: &line)
        line += ",\"service\":"
        JSONLogHandler.appendString(service, to: &line)
        line += ",\"logger\":"
        JSONLogHandler.appendString(label, to: &line)
        var previous: String?
        for entry in entries where entry.key != previous {
            previous = entry.key
            line += ","
            JSONLogHandler.appendString(entry.key, to: &line)
            line += ":"
            JSONLogHandler.appendValue(entry.value, to: &line)
        }
        line += "}\n"
        output.write(line)
    }

    /// The keys every line has; metadata of the same names is left out.
    private static let reserved: Set<String> = ["time", "level", "message", "service", "logger"]

    /// Hummingbird's id of the request being answered, written as `request_id` like Settle's
    /// other correlation ids (`trace_id`, `order_id`, `event_id`).
    static let hummingbirdRequestID = "hb.request.id"

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    public static func appendValue(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &line)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &line)
        case .array(let values):
            line += "["
            for (index, element) in values.enumerated() {
                if index > 0 { line += "," }
                appendValue(element, to: &line)
            }
            line += "]"
        case .dictionary(let entries):
            line += "{"
            for (index, key) in entries.keys.sorted().enumerated() {
                if index > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                appendValue(entries[key]!, to: &line)
            }
            line += "}"
        }
    }

    public static func appendString(_ text: String, to line: inout String) {
        line += "\""
        // Most text needs no escape and is copied whole. Only ASCII characters are escaped, and
        // no byte of a multi-byte UTF-8 sequence is ASCII, so a scan of the bytes finds them all.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            line += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": line += "\\\""
                case "\\": line += "\\\\"
                case "\n": line += "\\n"
                case "\r": line += "\\r"
                case "\t": line += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: line.unicodeScalars.append(scalar)
                }
            }
        }
        line += "\""
    }
}

/// Where JSON log lines go; a whole line is written at once so lines never interleave.
public final class JSONLogOutput: Sendable {
    private let sink: @Sendable (String) -> Void
    private let lock = Mutex(())

    public init(_ sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    public static let standardError = JSONLogOutput { line in
        var line = line
        line.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                let written = writeStandardError(base + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return  // standard error is gone: nothing else can be told of it
                }
            }
        }
    }

    func write(_ line: String) {
        lock.withLock { _ in sink(line) }
    }
}

/// write(2) to standard error (a free function: inside `JSONLogOutput`, `write` is its own method).
private func writeStandardError(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int {
    write(STDERR_FILENO, bytes, count)
}
