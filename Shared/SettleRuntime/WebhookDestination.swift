import Foundation
import NIOPosix
import SettleDomain

/// Where a webhook URL leads, checked against the deployment's `WebhookAddressPolicy`: the
/// host is resolved (off Swift's cooperative pool, on NIO's blocking-I/O thread pool) and every
/// address it resolves to must be allowed. The API checks when an endpoint is created; the
/// dispatcher checks again before each connection and connects to the address it checked, so
/// a name that resolves elsewhere later (DNS rebinding) reaches nothing it should not.
public struct WebhookDestination: Sendable {
    public var policy: WebhookAddressPolicy

    public init(policy: WebhookAddressPolicy) {
        self.policy = policy
    }

    /// The URL's host, resolved and checked: its addresses, each allowed, or the reason it is refused.
    public func check(_ url: WebhookURL) async throws(WebhookDestinationRefused) -> [[UInt8]] {
        let addresses: [[UInt8]]
        if let literal = url.literalAddress {
            addresses = [literal]
        } else {
            do {
                addresses = try await Self.resolve(url.host)
            } catch {
                throw WebhookDestinationRefused(code: "url_unresolvable", message: "The URL's host \(url.host.prefix(253)) does not resolve: \(error).")
            }
        }
        for address in addresses {
            if let reason = policy.refusal(address) {
                throw WebhookDestinationRefused(
                    code: "url_not_allowed",
                    message: "The URL's host \(url.host.prefix(253)) is \(IPNetwork.format(address)), \(reason); webhooks are not sent there.")
            }
        }
        return addresses
    }

    struct ResolutionFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// Every IPv4 and IPv6 address of `host`, by `getaddrinfo` (which blocks: it runs on NIO's thread pool).
    static func resolve(_ host: String) async throws -> [[UInt8]] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, nil, &hints, &list)
            guard status == 0, let first = list else {
                throw ResolutionFailed(description: String(cString: gai_strerror(status)))
            }
            defer { freeaddrinfo(first) }
            var addresses: [[UInt8]] = []
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let entry = next {
                if let socket = entry.pointee.ai_addr {
                    switch entry.pointee.ai_family {
                    case AF_INET:
                        var address = socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                        addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                    case AF_INET6:
                        var address = socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                        addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                    default:
                        break
                    }
                }
                next = entry.pointee.ai_next
            }
            var unique: [[UInt8]] = []
            for address in addresses where !unique.contains(address) { unique.append(address) }
            guard !unique.isEmpty else { throw ResolutionFailed(description: "no IPv4 or IPv6 address") }
            return unique
        }
    }
}

/// A webhook URL that leads somewhere webhooks are not sent (or nowhere): a stable code and why.
public struct WebhookDestinationRefused: Error, Sendable, Equatable {
    public var code: String
    public var message: String
}
