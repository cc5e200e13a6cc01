import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on loopback in front of a real server, for a network fault no server can be
/// asked for: after `stall()`, every connection open at that moment goes silent in both
/// directions (bytes are read and dropped, nothing is closed), as when a peer vanishes without
/// a FIN or a partition swallows packets. Connections made afterwards pass normally, and one the
/// client closes is closed towards the server too (so the server's session ends).
public final class StallingProxy: Sendable {
    public let port: Int
    private let server: any Channel
    private let generation: Generation

    final class Generation: Sendable {
        let value = Atomic<Int>(0)
    }

    public static func start(to host: String, port target: Int) async throws -> StallingProxy {
        let generation = Generation()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Nothing is read from a client before its connection to the server exists.
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                let born = generation.value.load(ordering: .relaxed)
                return ClientBootstrap(group: inbound.eventLoop).connect(host: host, port: target).flatMapThrowing { outbound in
                    try outbound.pipeline.syncOperations.addHandler(Forward(to: inbound, born: born, generation: generation))
                    try inbound.pipeline.syncOperations.addHandler(Forward(to: outbound, born: born, generation: generation))
                    inbound.setOption(.autoRead, value: true).whenComplete { _ in }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StallingProxy(port: server.localAddress?.port ?? 0, server: server, generation: generation)
    }

    /// A proxy in front of the server `url` names, and `url` with the proxy's port instead.
    public static func start(before url: URL) async throws -> (StallingProxy, URL) {
        let proxy = try await start(to: url.host ?? "127.0.0.1", port: url.port ?? 5432)
        var through = URLComponents(url: url, resolvingAgainstBaseURL: false)
        through?.port = proxy.port
        guard let routed = through?.url else { throw URLError(.badURL) }
        return (proxy, routed)
    }

    private init(port: Int, server: any Channel, generation: Generation) {
        self.port = port
        self.server = server
        self.generation = generation
    }

    /// From now on the connections open at this moment carry nothing either way.
    public func stall() {
        generation.value.add(1, ordering: .relaxed)
    }

    public func stop() async throws {
        try await server.close()
    }

    /// Passes what one side sends to the other while its connection is not stalled.
    private final class Forward: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        let peer: any Channel
        let born: Int
        let generation: Generation

        init(to peer: any Channel, born: Int, generation: Generation) {
            self.peer = peer
            self.born = born
            self.generation = generation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard generation.value.load(ordering: .relaxed) == born else { return }
            peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            peer.close(promise: nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
