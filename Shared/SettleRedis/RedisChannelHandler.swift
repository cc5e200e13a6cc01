import NIOCore

/// Pipelines commands on one connection: writes go out in order and each reply completes
/// the oldest waiting promise. When the connection ends, every waiting call fails.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let reader = RESPReader()
    private var waiting = CircularBuffer<EventLoopPromise<RedisValue>>()
    private var failure: RedisError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.reply.fail(failure)
            promise?.fail(failure)
            return
        }
        waiting.append(request.reply)
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: request.bytes)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try buffer.withUnsafeReadableBytes { bytes throws(RedisError) in try reader.feed(bytes) }
            while let reply = try reader.nextReply() {
                guard let promise = waiting.popFirst() else {
                    throw RedisError.protocolViolation("a reply arrived with no request waiting")
                }
                promise.succeed(reply)
            }
        } catch {
            failAll(error as? RedisError ?? .protocolViolation("\(error)"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionLost("the connection to Redis closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.connectionLost("\(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        if failure == nil { failure = error }
        while let promise = waiting.popFirst() {
            promise.fail(error)
        }
    }
}

struct RedisRequest {
    var bytes: [UInt8]
    var reply: EventLoopPromise<RedisValue>
}
