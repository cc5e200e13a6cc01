import Foundation

/// A webhook endpoint's URL, checked for shape: `http` or `https`, a host, no credentials, no
/// fragment, at most 2,048 characters. Where the host points is checked separately, when the
/// endpoint is created and again before each connection (`WebhookAddressPolicy`).
public struct WebhookURL: Sendable, Equatable {
    public static let maxLength = 2_048

    /// The URL as the merchant gave it.
    public let text: String
    public let isHTTPS: Bool
    /// The host name, or the address literal without brackets.
    public let host: String
    public let port: Int
    /// The host's bytes when it is an address literal (no name to resolve).
    public let literalAddress: [UInt8]?

    public init(_ text: String) throws(ValidationFailure) {
        func invalid(_ why: String) -> ValidationFailure {
            ValidationFailure(code: "url_invalid", param: "url", message: "The URL \(why).")
        }
        guard text.utf8.count <= Self.maxLength else { throw invalid("must be at most \(Self.maxLength) characters") }
        guard !text.contains(where: { $0.isWhitespace || $0.isNewline }), let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased() else {
            throw invalid("must be an absolute http or https URL")
        }
        guard scheme == "https" || scheme == "http" else { throw invalid("must use http or https, not \(scheme.prefix(20))") }
        guard components.user == nil, components.password == nil else { throw invalid("must not carry credentials") }
        guard components.fragment == nil else { throw invalid("must not have a fragment") }
        var host = components.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw invalid("must have a host") }
        let literal = IPNetwork.parseAddress(host)
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        guard literal != nil || (host.count <= 253 && host.allSatisfy { nameCharacters.contains($0) }) else {
            throw invalid("has a host that is neither a domain name nor an IP address")
        }
        if let port = components.port, !(1...65535).contains(port) { throw invalid("has a port outside 1 to 65535") }
        self.text = text
        isHTTPS = scheme == "https"
        self.host = host.lowercased()
        port = components.port ?? (scheme == "https" ? 443 : 80)
        literalAddress = literal
    }
}
