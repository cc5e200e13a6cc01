import Foundation
import Logging
import PostgresNIO
import SettleKafka
import SettleRedis
import SettleStorage

/// Start-up and readiness probes for the three stores, each turning failure into a
/// `StartupFailure` that names the dependency and its address.
public enum DependencyProbe {
    /// Connects once. A server that refuses, does not know the database or the user is an
    /// error at once; one that is merely slow (a connect time-out, too many clients, still
    /// starting) is tried again, backing off, for up to `patience`: many services starting
    /// together on one machine can keep PostgreSQL from accepting within one time-out.
    public static func postgres(url: URL, logger: Logger, patience: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + patience
        var delay: Duration = .milliseconds(100)
        while true {
            do {
                try await DatabaseProbe.connect(url: url, logger: logger)
                return
            } catch {
                guard DatabaseProbe.isTransient(error), ContinuousClock.now + delay < deadline else {
                    throw StartupFailure(dependency: "PostgreSQL", address: DatabaseConfiguration.address(of: url), reason: DatabaseProbe.reason(error))
                }
                logger.warning("PostgreSQL is slow to accept a connection; trying again", metadata: [
                    "address": "\(DatabaseConfiguration.address(of: url))", "reason": "\(DatabaseProbe.reason(error))", "retry_in": "\(delay)",
                ])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    public static func redis(_ client: RedisClient) async throws {
        do {
            try await client.ping()
        } catch {
            throw StartupFailure(dependency: "Redis", address: client.address, reason: "\(error)")
        }
    }

    public static func kafka(_ brokers: String, timeout: Duration = .seconds(5)) async throws {
        do {
            _ = try await KafkaMetadata.topics(bootstrapServers: brokers, timeout: timeout)
        } catch {
            throw StartupFailure(dependency: "Kafka", address: brokers, reason: "no broker answered (\(error))")
        }
    }
}
