import Foundation
import Logging
import PostgresNIO

/// Checks that PostgreSQL answers, with a deadline, so a missing database is a clear one-line
/// error at start-up rather than a hang (postgres-nio otherwise waits for a connection).
public enum DatabaseProbe {
    public static func check(_ client: PostgresClient, timeout: Duration = .seconds(5), logger: Logger) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await client.query("SELECT 1", logger: logger)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw DatabaseProbeTimeout()
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Opens one connection of its own and runs `SELECT 1`: at start-up this says at once why
    /// PostgreSQL cannot be used (refused, unknown database, bad password).
    public static func connect(url: URL, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try DatabaseConfiguration.connection(url: url),
            id: 0,
            logger: logger
        )
        defer { Task { try? await connection.close() } }
        try await connection.query("SELECT 1", logger: logger)
    }

    /// Whether a failed connection attempt may succeed if tried again soon: the server did not
    /// answer in time, has too many clients, or is starting or recovering. A refusal, an unknown
    /// database or bad credentials are not.
    public static func isTransient(_ error: any Error) -> Bool {
        if error is DatabaseProbeTimeout { return true }
        guard let psql = error as? PSQLError else { return false }
        switch psql.code {
        case .connectionError:
            let detail = psql.underlying.map { "\($0)" }?.lowercased() ?? ""
            return detail.contains("timeout") || detail.contains("timed out")
        case .server:
            // too_many_connections, cannot_connect_now (starting up or recovering)
            return ["53300", "57P03"].contains(psql.serverInfo?[.sqlState] ?? "")
        default:
            return false
        }
    }

    /// A short reason for a failed probe, free of connection secrets.
    public static func reason(_ error: any Error) -> String {
        if error is DatabaseProbeTimeout { return "no answer within the time-out" }
        if let psql = error as? PSQLError {
            switch psql.code {
            case .connectionError:
                let detail = psql.underlying.map { "\($0)" } ?? ""
                return detail.contains("refused") ? "connection refused" : "cannot connect (\(detail))"
            case .server:
                let message = psql.serverInfo?[.message] ?? "server error"
                return psql.serverInfo?[.sqlState].map { "\(message) (SQLSTATE \($0))" } ?? message
            default: return "\(psql.code)"
            }
        }
        return "\(error)"
    }
}

struct DatabaseProbeTimeout: Error {}
