import Foundation
import SettleDomain

/// Reads typed settings from environment variables, each with a documented default.
///
/// A value that is present but malformed is an error naming the variable and the
/// expected form; it never falls back to the default silently.
public struct EnvironmentReader: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    private func raw(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    public func string(_ name: String, default defaultValue: String) -> String {
        raw(name) ?? defaultValue
    }

    /// A variable with no default: missing is an error.
    public func required(_ name: String, expected: String) throws(ConfigurationError) -> String {
        guard let value = raw(name) else { throw ConfigurationError(variable: name, expected: expected, actual: nil) }
        return value
    }

    public func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = raw(name) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(variable: name, expected: "an integer from \(range.lowerBound) to \(range.upperBound)", actual: text)
        }
        return value
    }

    public func port(_ name: String, default defaultValue: Int) throws(ConfigurationError) -> Int {
        guard let text = raw(name) else { return defaultValue }
        guard let value = Int(text), (1...65535).contains(value) else {
            throw ConfigurationError(variable: name, expected: "a TCP port from 1 to 65535", actual: text)
        }
        return value
    }

    public func milliseconds(_ name: String, default defaultValue: Duration) throws(ConfigurationError) -> Duration {
        guard let text = raw(name) else { return defaultValue }
        guard let value = Int(text), value >= 0 else {
            throw ConfigurationError(variable: name, expected: "a whole number of milliseconds", actual: text)
        }
        return .milliseconds(value)
    }

    public func bool(_ name: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let text = raw(name)?.lowercased() else { return defaultValue }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(variable: name, expected: "true or false", actual: text)
        }
    }

    /// A URL with one of the given schemes and a host.
    public func url(_ name: String, default defaultValue: String, schemes: [String]) throws(ConfigurationError) -> URL {
        let text = raw(name) ?? defaultValue
        guard let url = URL(string: text), let scheme = url.scheme, schemes.contains(scheme), url.host != nil else {
            let form = schemes.map { "\($0)://host:port" }.joined(separator: " or ")
            throw ConfigurationError(variable: name, expected: "a URL like \(form)", actual: Self.withoutPassword(text))
        }
        return url
    }

    /// A URL's text with the password of its user information masked (`postgres://settle:***@…`),
    /// for messages that quote a setting: a password never reaches a log.
    public static func withoutPassword(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@"),
              let colon = text[scheme.upperBound..<at].firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }

    /// A comma-separated `host:port` list, as Kafka clients take it.
    public func hostPortList(_ name: String, default defaultValue: String) throws(ConfigurationError) -> String {
        let text = raw(name) ?? defaultValue
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let valid = !entries.isEmpty && entries.allSatisfy { entry in
            guard let colon = entry.lastIndex(of: ":"), colon != entry.startIndex else { return false }
            return Int(entry[entry.index(after: colon)...]).map { (1...65535).contains($0) } ?? false
        }
        guard valid else {
            throw ConfigurationError(variable: name, expected: "a comma-separated list of host:port", actual: text)
        }
        return entries.joined(separator: ",")
    }

    /// A comma-separated list of networks in CIDR notation (`127.0.0.0/8,::1/128`); empty when unset.
    public func networks(_ name: String) throws(ConfigurationError) -> [IPNetwork] {
        guard let text = raw(name) else { return [] }
        var networks: [IPNetwork] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let network = IPNetwork(entry) else {
                throw ConfigurationError(variable: name, expected: "a comma-separated list of networks such as 127.0.0.0/8,::1/128", actual: text)
            }
            networks.append(network)
        }
        return networks
    }
}
