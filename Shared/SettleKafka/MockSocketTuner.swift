import Foundation

/// Turns Nagle's algorithm off on the mock cluster's connections.
///
/// Apache Kafka sets `TCP_NODELAY` on every connection it accepts; librdkafka's mock broker
/// (rdkafka_mock.c) does not, and has no setting for it. With Nagle on, a response written while
/// an earlier one is still unacknowledged waits for the client's delayed ACK, so a client with
/// more than one request in flight sees ~40 ms added to a round trip that otherwise takes well
/// under one: latency figures taken on the development broker would measure the mock, not
/// Settle. This thread sets `TCP_NODELAY` on the process's connected TCP sockets (the mock's, and
/// the admin server's, which already have it) ten times a second; the option is idempotent.
final class MockSocketTuner: Sendable {
    private let thread: KafkaPollThread

    init(interval: Duration = .milliseconds(100)) {
        let microseconds = useconds_t(interval.components.attoseconds / 1_000_000_000_000 + interval.components.seconds * 1_000_000)
        thread = KafkaPollThread(name: "settle-broker-nodelay", body: {
            Self.disableNagleOnConnectedSockets()
            usleep(microseconds)
        })
    }

    func stop() {
        thread.stop()
    }

    private static func disableNagleOnConnectedSockets() {
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in descriptors {
            guard let descriptor = Int32(name) else { continue }
            var type: Int32 = 0, listening: Int32 = 0, domain: Int32 = 0
            guard option(descriptor, SOL_SOCKET, SO_TYPE, &type), type == Int32(SOCK_STREAM.rawValue),
                  option(descriptor, SOL_SOCKET, SO_DOMAIN, &domain), domain == AF_INET || domain == AF_INET6,
                  option(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening), listening == 0 else { continue }
            var on: Int32 = 1
            _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    private static func option(_ descriptor: Int32, _ level: Int32, _ name: Int32, _ value: inout Int32) -> Bool {
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, level, name, &value, &length) == 0
    }
}
