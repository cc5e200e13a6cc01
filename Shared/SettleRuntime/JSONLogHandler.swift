import Foundation
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
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }

        var line = "{\"time\":"
        JSONLogHandler.appendString(JSONLogHandler.timestamp(), to: &line)
        line += ",\"level\":"
        JSONLogHandler.appendString(event.level.rawValue, to: &line)
        line += ",\"message\":"
        JSONLogHandler.appendString(event.message.description, to: &line)
        line += ",\"service\":"
        JSONLogHandler.appendString(service, to: &line)
        line += ",\"logger\":"
        JSONLogHandler.appendString(label, to: &line)
        if let requestID = merged.removeValue(forKey: JSONLogHandler.hummingbirdRequestID) { merged["request_id"] = requestID }
        for key in merged.keys.sorted() where !["time", "level", "message", "service", "logger"].contains(key) {
            line += ","
            JSONLogHandler.appendString(key, to: &line)
            line += ":"
            JSONLogHandler.appendValue(merged[key]!, to: &line)
        }
        line += "}\n"
        output.write(line)
    }

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
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20:
                line += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: line.unicodeScalars.append(scalar)
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
        FileHandle.standardError.write(Data(line.utf8))
    }

    func write(_ line: String) {
        lock.withLock { _ in sink(line) }
    }
}
