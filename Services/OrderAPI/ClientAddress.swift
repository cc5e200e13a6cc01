import HTTPTypes
import Hummingbird
import NIOCore
import SettleDomain

/// Who is at the other end of a request, for limits per client: the connection's peer, or,
/// when the peer is a proxy the operator trusts (`SETTLE_TRUSTED_PROXIES`), the nearest address
/// in `X-Forwarded-For` that is not one of them. An IPv6 client is taken by its /64, which one
/// host usually has whole.
struct ClientAddress: Sendable {
    let trustedProxies: [IPNetwork]

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func of(_ request: Request, peer: SocketAddress?) -> String {
        guard let peerText = peer?.ipAddress, var address = IPNetwork.parseAddress(peerText) else { return "unknown" }
        if trusted(address) {
            let hops = request.headers[values: Self.forwardedFor]
                .flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }
            for hop in hops.reversed() {
                guard let hopAddress = IPNetwork.parseAddress(hop) else { break }
                address = hopAddress
                if !trusted(hopAddress) { break }
            }
        }
        return Self.subject(address)
    }

    private func trusted(_ address: [UInt8]) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }

    /// An IPv4 address whole (an IPv4-mapped IPv6 address as IPv4), an IPv6 address by its /64.
    static func subject(_ address: [UInt8]) -> String {
        if address.count == 16, address.prefix(10).allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF {
            return IPNetwork.format(Array(address.suffix(4)))
        }
        if address.count == 16 { return IPNetwork.format(Array(address.prefix(8)) + [UInt8](repeating: 0, count: 8)) + "/64" }
        return IPNetwork.format(address)
    }
}
