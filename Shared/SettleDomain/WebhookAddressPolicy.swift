/// Which addresses a webhook may be sent to (DESIGN.md "Retries", webhooks): never loopback,
/// private, link-local (which holds the cloud metadata service), shared, multicast or reserved
/// addresses, unless the deployment allows a network explicitly. A URL passes only if every
/// address its host resolves to passes: a name with one public and one private address would
/// otherwise reach the private one half the time.
public struct WebhookAddressPolicy: Sendable, Equatable {
    /// Networks the deployment allows although they are refused by default (the local stack
    /// allows loopback so its sink can receive webhooks; a compose network allows its own range).
    public var allowed: [IPNetwork]

    public init(allowed: [IPNetwork] = []) {
        self.allowed = allowed
    }

    /// The refused networks and why, checked in this order.
    public static let refused: [(network: IPNetwork, reason: String)] = [
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("169.254.0.0/16", "a link-local address (where cloud metadata services answer)"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
        ("100::/64", "a discard address"),
        ("2001:db8::/32", "a documentation address"),
        ("64:ff9b:1::/48", "a local-use translated address"),
    ].map { (IPNetwork($0.0)!, $0.1) }

    /// Why `address` (4 or 16 bytes) is refused, or nil if a webhook may go there. IPv6 forms
    /// that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
    public func refusal(_ address: [UInt8]) -> String? {
        if allowed.contains(where: { $0.contains(address) }) { return nil }
        if let embedded = Self.embeddedIPv4(address) {
            return refusal(embedded).map { "\($0), inside an IPv6 address" }
        }
        return Self.refused.first { $0.network.contains(address) }?.reason
    }

    private static let mapped = IPNetwork("::ffff:0:0/96")!
    private static let compatible = IPNetwork("::/96")!
    private static let nat64 = IPNetwork("64:ff9b::/96")!
    private static let sixToFour = IPNetwork("2002::/16")!

    private static func embeddedIPv4(_ address: [UInt8]) -> [UInt8]? {
        guard address.count == 16 else { return nil }
        if mapped.contains(address) || nat64.contains(address) { return Array(address[12..<16]) }
        if compatible.contains(address), address != [UInt8](repeating: 0, count: 15) + [1], address != [UInt8](repeating: 0, count: 16) {
            return Array(address[12..<16])
        }
        if sixToFour.contains(address) { return Array(address[2..<6]) }
        return nil
    }
}
