import Foundation
import Synchronization

/// A loopback TCP port for a server a test starts, that nothing listens on right now.
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`), never from
/// inside it: a port the kernel handed out for "port 0" is free again the moment it is read,
/// and every outgoing connection of the parallel tests draws its local port from that same
/// range, so a child started a moment later could find it taken. Below the range only servers
/// bind, and a counter shared by the whole test process never hands one port to two tests.
public enum FreePort {
    private static let range: ClosedRange<Int> = {
        let lowestEphemeral = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: \.isWhitespace).first }.flatMap { Int($0) } ?? 32768
        // Above the local stacks' ports (SETTLE_PORT_BASE 7100 and CI's 8100, plus their offsets).
        return 20000...max(20001, lowestEphemeral - 1)
    }()

    /// Where this process starts counting: another test process at the same time starts elsewhere.
    private static let next = Atomic<Int>(Int(getpid()) &* 7919)

    public static func make() throws -> Int {
        let span = range.count
        for _ in 0..<span {
            let port = range.lowerBound + Int((UInt(bitPattern: next.add(1, ordering: .relaxed).newValue)) % UInt(span))
            if canBind(port) { return port }
        }
        throw POSIXError(.EADDRINUSE)
    }

    /// A `SETTLE_PORT_BASE` for a private local stack (`settle up` in a home of its own): every
    /// port from it to it + 99 free right now. Bases come from 9000 to 19900, between the
    /// developer's and CI's stacks (7100, 8100) and the ports `make` hands out.
    public static func stackBase() throws -> Int {
        let slots = 110
        for _ in 0..<slots {
            let base = 9_000 + 100 * Int(UInt(bitPattern: next.add(1, ordering: .relaxed).newValue) % UInt(slots))
            if (base..<(base + 100)).allSatisfy(canBind) { return base }
        }
        throw POSIXError(.EADDRINUSE)
    }

    /// Whether a server could listen on 127.0.0.1:`port` right now.
    private static func canBind(_ port: Int) -> Bool {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var reuse: Int32 = 1  // as servers bind: a port whose old connections linger in TIME_WAIT is usable
        _ = setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
