import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One Redis channel's messages on a connection of their own (a subscribed connection can
/// carry nothing else), with what a cache needs to trust them: `.subscribed` once Redis has
/// confirmed the subscription, `.lost` whenever messages may have been missed (the connection
/// closed, or Redis stopped answering the PING sent every `pingInterval`). It reconnects until
/// its task is cancelled.
public struct RedisSubscriber: Sendable {
    public enum Event: Sendable, Equatable {
        case subscribed
        case message([UInt8])
        case lost
    }

    public let host: String
    public let port: Int
    let logger: Logger
    let pingInterval: Duration
    let group: any EventLoopGroup

    public init(host: String, port: Int, logger: Logger, pingInterval: Duration = .milliseconds(500),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.logger = logger
        self.pingInterval = pingInterval
        self.group = eventLoopGroup
    }

    /// Subscribes to `channel` and reports every event to `onEvent` (on an event loop: keep it
    /// short) until cancelled.
    public func run(channel name: String, onEvent: @escaping @Sendable (Event) -> Void) async {
        while !Task.isCancelled {
            await session(channel: name, onEvent: onEvent)
            onEvent(.lost)
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    private func session(channel name: String, onEvent: @escaping @Sendable (Event) -> Void) async {
        let (replies, continuation) = AsyncStream.makeStream(of: RedisValue.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(1))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SubscriptionHandler(replies: continuation))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            logger.debug("cannot subscribe to Redis", metadata: ["redis.address": "\(host):\(port)", "error": "\(error)"])
            return
        }
        let lastReply = LastReply()
        let interval = pingInterval
        await withTaskCancellationHandler {
            channel.writeAndFlush(ByteBuffer(bytes: RESPReader.format([Array("SUBSCRIBE".utf8), Array(name.utf8)])), promise: nil)
            await withTaskGroup(of: Void.self) { group in
                // Redis answers a PING on a subscribed connection; no answer within three intervals
                // means messages may be going nowhere.
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if lastReply.instant < .now - interval * 3 {
                            channel.close(promise: nil)
                            return
                        }
                        channel.writeAndFlush(ByteBuffer(bytes: RESPReader.format([Array("PING".utf8)])), promise: nil)
                    }
                }
                group.addTask {
                    for await reply in replies {
                        lastReply.touch()
                        guard let parts = reply.array, let kind = parts.first?.string else { continue }
                        switch kind {
                        case "subscribe": onEvent(.subscribed)
                        case "message" where parts.count == 3: if case .bulk(let payload) = parts[2] { onEvent(.message(payload)) }
                        default: continue
                        }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onCancel: {
            channel.close(promise: nil)
        }
        try? await channel.close()
    }
}

/// When the subscribed connection last answered.
private final class LastReply: Sendable {
    private let value = Mutex(ContinuousClock.now)
    var instant: ContinuousClock.Instant { value.withLock { $0 } }
    func touch() { value.withLock { $0 = .now } }
}

/// Hands every reply on a subscribed connection to the session; ends its stream when the
/// connection closes.
private final class SubscriptionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let reader = RESPReader()
    private let replies: AsyncStream<RedisValue>.Continuation

    init(replies: AsyncStream<RedisValue>.Continuation) {
        self.replies = replies
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try buffer.withUnsafeReadableBytes { bytes throws(RedisError) in try reader.feed(bytes) }
            while let reply = try reader.nextReply() { replies.yield(reply) }
        } catch {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        replies.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
