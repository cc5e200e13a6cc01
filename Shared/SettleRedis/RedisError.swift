/// Why a Redis call failed.
public enum RedisError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Redis could not be reached: the call failed at once instead of waiting.
    case unavailable(String)
    /// The connection closed or timed out with this call in flight; its effect is unknown.
    case connectionLost(String)
    /// Redis answered with an error reply (for example `NOSCRIPT` or `WRONGTYPE`).
    case server(String)
    /// The reply could not be parsed or had an unexpected shape.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .unavailable(let detail): "Redis unavailable: \(detail)"
        case .connectionLost(let detail): "Redis connection lost: \(detail)"
        case .server(let detail): "Redis error: \(detail)"
        case .protocolViolation(let detail): "Redis protocol error: \(detail)"
        }
    }
}
