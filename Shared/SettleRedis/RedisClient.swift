import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A pipelining Redis client: hiredis parses and formats RESP, SwiftNIO does the I/O,
/// so no call ever blocks a thread.
///
/// Many tasks share one connection; their commands are pipelined. When Redis goes away,
/// calls in flight fail with `RedisError.connectionLost`, and later calls try to reconnect
/// once and fail at once with `RedisError.unavailable` while Redis is still down, so no
/// caller hangs. A call with no reply within `commandTimeout` closes the connection.
public final class RedisClient: Service, Sendable {
    public let host: String
    public let port: Int
    private let group: any EventLoopGroup
    private let connectTimeout: TimeAmount
    private let commandTimeout: TimeAmount
    private let logger: Logger
    private let connection = Mutex<ConnectionState>(.idle)

    private enum ConnectionState {
        case idle
        case connecting(EventLoopFuture<any Channel>)
        case connected(any Channel)
        case shutDown
    }

    public init(
        host: String,
        port: Int,
        logger: Logger,
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(2),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.host = host
        self.port = port
        self.logger = logger
        self.group = eventLoopGroup
        self.connectTimeout = .nanoseconds(Int64(connectTimeout.components.seconds) * 1_000_000_000 + connectTimeout.components.attoseconds / 1_000_000_000)
        self.commandTimeout = .nanoseconds(Int64(commandTimeout.components.seconds) * 1_000_000_000 + commandTimeout.components.attoseconds / 1_000_000_000)
    }

    /// Parses `redis://host:port`.
    public convenience init(url: String, logger: Logger) throws {
        guard let endpoint = RedisEndpoint(url: url) else {
            throw RedisError.unavailable("REDIS_URL must look like redis://host:port, got '\(url)'")
        }
        self.init(host: endpoint.host, port: endpoint.port, logger: logger)
    }

    public var address: String { "\(host):\(port)" }

    /// Sends one command and returns its reply. An error reply is thrown as `RedisError.server`.
    @discardableResult
    public func send(_ arguments: [String]) async throws -> RedisValue {
        try await send(bytes: arguments.map { Array($0.utf8) })
    }

    @discardableResult
    public func send(bytes arguments: [[UInt8]]) async throws -> RedisValue {
        let channel = try await currentChannel()
        let request = RESPReader.format(arguments)
        let commandTimeout = self.commandTimeout
        // One hop onto the connection's event loop does everything there: the write, the
        // time-out and the callbacks. Each NIO call made from off the loop (a write, a
        // scheduled task, its cancellation, a callback on a future) would be a hop of its own,
        // and a wake-up of the loop's thread: five per command before.
        let reply: RedisValue = try await withCheckedThrowingContinuation { continuation in
            channel.eventLoop.execute {
                let promise = channel.eventLoop.makePromise(of: RedisValue.self)
                let timeout = channel.eventLoop.scheduleTask(in: commandTimeout) {
                    // Replies are matched by position, so a missing one poisons the connection: close it.
                    promise.fail(RedisError.connectionLost("no reply within the command time-out"))
                    channel.close(promise: nil)
                }
                promise.futureResult.whenComplete { result in
                    timeout.cancel()
                    continuation.resume(with: result)
                }
                // A write that reaches an already-closed channel never meets the handler: fail the call here.
                // (Completing an NIO promise a second time is ignored.)
                channel.writeAndFlush(RedisRequest(bytes: request, reply: promise))
                    .whenFailure { promise.fail(RedisError.connectionLost("\($0)")) }
            }
        }
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    private func currentChannel() async throws -> any Channel {
        enum Next { case use(any Channel), wait(EventLoopFuture<any Channel>), fail }
        let next: Next = connection.withLock { state in
            switch state {
            case .connected(let channel) where channel.isActive:
                return .use(channel)
            case .connecting(let future):
                return .wait(future)
            case .shutDown:
                return .fail
            case .idle, .connected:
                let future = connect()
                state = .connecting(future)
                return .wait(future)
            }
        }
        switch next {
        case .use(let channel): return channel
        case .fail: throw RedisError.unavailable("the Redis client has shut down")
        case .wait(let future):
            do {
                return try await future.get()
            } catch {
                throw RedisError.unavailable("cannot connect to Redis at \(address): \(error)")
            }
        }
    }

    /// Must be called with `connection` locked.
    private func connect() -> EventLoopFuture<any Channel> {
        let future = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler())
                }
            }
            .connect(host: host, port: port)
        future.whenComplete { [self] result in
            let keep = connection.withLock { state -> Bool in
                guard case .connecting = state else { return false }
                switch result {
                case .success(let channel): state = .connected(channel)
                case .failure: state = .idle
                }
                return true
            }
            if !keep, case .success(let channel) = result {
                // Shut down while connecting: nobody may use this connection.
                channel.close(promise: nil)
                return
            }
            if case .success(let channel) = result {
                channel.closeFuture.whenComplete { [self] _ in
                    connection.withLock { state in
                        if case .connected(let current) = state, current === channel { state = .idle }
                    }
                    logger.debug("Redis connection closed", metadata: ["redis.address": "\(address)"])
                }
            }
        }
        return future
    }

    /// Closes the connection; later calls fail with `RedisError.unavailable`.
    public func shutdown() async {
        let channel: (any Channel)? = connection.withLock { state in
            defer { state = .shutDown }
            if case .connected(let channel) = state { return channel }
            return nil
        }
        try? await channel?.close()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}

extension RedisClient {
    public func ping() async throws {
        let reply = try await send(["PING"])
        guard reply.string == "PONG" else { throw RedisError.protocolViolation("PING answered \(reply)") }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        switch try await send(["GET", key]) {
        case .bulk(let bytes): return bytes
        case .null: return nil
        case let other: throw RedisError.protocolViolation("GET answered \(other)")
        }
    }

    public func getString(_ key: String) async throws -> String? {
        try await get(key).map { String(decoding: $0, as: UTF8.self) }
    }

    /// SET, with a time-to-live in milliseconds when `expiry` is given.
    public func set(_ key: String, to value: [UInt8], expiry: Duration? = nil) async throws {
        var arguments: [[UInt8]] = [Array("SET".utf8), Array(key.utf8), value]
        if let expiry {
            let milliseconds = expiry.components.seconds * 1000 + expiry.components.attoseconds / 1_000_000_000_000_000
            arguments += [Array("PX".utf8), Array(String(max(1, milliseconds)).utf8)]
        }
        try await send(bytes: arguments)
    }

    public func set(_ key: String, to value: String, expiry: Duration? = nil) async throws {
        try await set(key, to: Array(value.utf8), expiry: expiry)
    }

    /// Deletes keys; returns how many existed.
    @discardableResult
    public func delete(_ keys: [String]) async throws -> Int {
        Int(try await send(["DEL"] + keys).integer ?? 0)
    }

    /// Runs a Lua script by its SHA-1, loading it first when Redis does not know it (NOSCRIPT),
    /// for example after a restart.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        var sha = script.sha
        if sha == nil { sha = try await load(script) }
        guard let sha else { throw RedisError.protocolViolation("no script SHA") }
        do {
            return try await send(["EVALSHA", sha, String(keys.count)] + keys + arguments)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            let sha = try await load(script)
            return try await send(["EVALSHA", sha, String(keys.count)] + keys + arguments)
        }
    }

    private func load(_ script: RedisScript) async throws -> String {
        guard let sha = try await send(["SCRIPT", "LOAD", script.source]).string else {
            throw RedisError.protocolViolation("SCRIPT LOAD answered no SHA")
        }
        script.remember(sha: sha)
        return sha
    }
}
