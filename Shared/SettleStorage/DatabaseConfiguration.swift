import Foundation
import PostgresNIO

/// Turns a `postgres://user:password@host:port/database` URL into postgres-nio's configuration.
public enum DatabaseConfiguration {
    /// How long opening a connection may take. Generous: a busy server (many clients
    /// connecting at once, a `CREATE DATABASE` in progress) can take seconds to accept, and a
    /// refused connection fails at once whatever this is.
    public static let connectTimeout: Duration = .seconds(10)

    /// - Parameter synchronousCommit: `false` only for writes whose loss in a crash is harmless
    ///   (see `IdempotencyStore`); everything else commits durably (contract clause 1).
    /// - Parameter maximumConnections: the pool's ceiling (`SETTLE_DATABASE_POOL_SIZE` for the services).
    public static func make(url: URL, applicationName: String, synchronousCommit: Bool = true,
                            maximumConnections: Int = 20) throws -> PostgresClient.Configuration {
        let target = try Target(url: url)
        var configuration = PostgresClient.Configuration(host: target.host, port: target.port, username: target.username,
                                                         password: target.password, database: target.database, tls: .disable)
        configuration.options.connectTimeout = connectTimeout
        configuration.options.maximumConnections = maximumConnections
        configuration.options.additionalStartupParameters = startupParameters(applicationName, synchronousCommit: synchronousCommit)
        return configuration
    }

    /// A single-connection configuration for the same URL, for start-up probes that must
    /// report why a connection failed (the pool retries quietly instead), and for sessions a
    /// service holds on its own (named by `applicationName`).
    public static func connection(url: URL, applicationName: String? = nil, synchronousCommit: Bool = true) throws -> PostgresConnection.Configuration {
        let target = try Target(url: url)
        var configuration = PostgresConnection.Configuration(host: target.host, port: target.port, username: target.username,
                                                             password: target.password, database: target.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(connectTimeout.components.seconds)
        if let applicationName {
            configuration.options.additionalStartupParameters = startupParameters(applicationName, synchronousCommit: synchronousCommit)
        }
        return configuration
    }

    // Contract clause 1: an answered 201 is durable, whatever the server's default.
    private static func startupParameters(_ applicationName: String, synchronousCommit: Bool) -> [(String, String)] {
        [("application_name", applicationName), ("synchronous_commit", synchronousCommit ? "on" : "off")]
    }

    /// The parts of a `postgres://` URL both configurations are made of.
    private struct Target {
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?

        init(url: URL) throws {
            guard let host = url.host else { throw DatabaseURLError(url: url) }
            self.host = host
            port = url.port ?? 5432
            username = url.user ?? "postgres"
            password = url.password
            database = url.path.count > 1 ? String(url.path.dropFirst()) : nil
        }
    }

    /// `host:port` for messages; never includes the password.
    public static func address(of url: URL) -> String {
        "\(url.host ?? "?"):\(url.port ?? 5432)\(url.path)"
    }
}

public struct DatabaseURLError: Error, CustomStringConvertible {
    public var url: URL
    public var description: String { "DATABASE_URL must look like postgres://user@host:port/database" }
}
