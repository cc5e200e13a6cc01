import Foundation

/// The settings every Settle service reads (README "Configuration" lists them with their defaults).
public struct ServiceSettings: Sendable {
    public var databaseURL: URL
    /// The most connections the service's PostgreSQL pool opens.
    public var databasePoolSize: Int
    public var redisURL: String
    public var kafkaBrokers: String
    /// Where `/healthz`, `/readyz` and `/metrics` (and, for the API, every route) are served.
    public var host: String
    public var port: Int

    public static let defaultDatabaseURL = "postgres://settle@127.0.0.1:7132/settle"
    public static let defaultRedisURL = "redis://127.0.0.1:7179"
    public static let defaultKafkaBrokers = "127.0.0.1:9092"

    /// - Parameter portVariable: e.g. `SETTLE_API_PORT`.
    public init(environment: EnvironmentReader, portVariable: String, defaultPort: Int) throws(ConfigurationError) {
        databaseURL = try environment.url("DATABASE_URL", default: Self.defaultDatabaseURL, schemes: ["postgres", "postgresql"])
        databasePoolSize = try environment.integer("SETTLE_DATABASE_POOL_SIZE", default: 20, in: 1...1000)
        let redis = environment.string("REDIS_URL", default: Self.defaultRedisURL)
        guard redis.hasPrefix("redis://"), URL(string: redis)?.host != nil else {
            throw ConfigurationError(variable: "REDIS_URL", expected: "a URL like redis://host:port", actual: EnvironmentReader.withoutPassword(redis))
        }
        redisURL = redis
        kafkaBrokers = try environment.hostPortList("KAFKA_BROKERS", default: Self.defaultKafkaBrokers)
        host = Self.host(environment)
        port = try environment.port(portVariable, default: defaultPort)
    }
}

extension ServiceSettings {
    /// The address a Settle server binds: loopback unless `SETTLE_HOST` says otherwise (a
    /// container's 0.0.0.0), for the services and the CLI's development roles alike.
    public static func host(_ environment: EnvironmentReader) -> String {
        environment.string("SETTLE_HOST", default: "127.0.0.1")
    }
}
