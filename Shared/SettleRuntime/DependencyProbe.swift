import Foundation
import Logging
import PostgresNIO
import SettleKafka
import SettleRedis
import SettleStorage

/// Start-up and readiness probes for the three stores, each turning failure into a
/// `StartupFailure` that names the dependency and its address.
public enum DependencyProbe {
    public static func postgres(url: URL, logger: Logger) async throws {
        do {
            try await DatabaseProbe.connect(url: url, logger: logger)
        } catch {
            throw StartupFailure(dependency: "PostgreSQL", address: DatabaseConfiguration.address(of: url), reason: DatabaseProbe.reason(error))
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
