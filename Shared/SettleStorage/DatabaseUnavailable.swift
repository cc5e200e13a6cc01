import Logging
import PostgresNIO
import Synchronization

/// PostgreSQL could not be used for a request: unreachable, a closed connection, or no answer
/// within the deadline. The API answers 503 `database_unavailable` with `Retry-After`.
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "PostgreSQL unavailable: \(reason)" }

    public init(reason: String) {
        self.reason = reason
    }

    /// Runs `operation` with a deadline; a missing or unreachable server becomes `DatabaseUnavailable`
    /// instead of a wait (postgres-nio queues requests until a connection exists).
    ///
    /// The answer comes at the deadline even if the operation does not react to cancellation
    /// (a query on a connection whose server vanished can wait for TCP to notice): the
    /// operation is cancelled and left to end on its own.
    ///
    /// With a `gate`, the deadline answers `DatabaseUnavailable` only while the write has not
    /// been sent; once it was, the answer waits for the operation, at most `outcomeWait` longer,
    /// and then is `OutcomeUnknown` (the write may still commit).
    public static func guarding<Result: Sendable>(
        deadline: Duration = .seconds(5),
        gate: CommitGate? = nil,
        outcomeWait: Duration = .seconds(10),
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let outcome = Outcome<Result>()
        let work = Task {
            do {
                outcome.finish(.success(try await operation()))
            } catch {
                outcome.finish(.failure(mapped(error)))
            }
        }
        let timer = Task {
            try await Task.sleep(for: deadline)
            guard gate?.abandon() ?? true else {
                try await Task.sleep(for: outcomeWait)
                outcome.finish(.failure(OutcomeUnknown(reason: "sent, and no answer within \(deadline + outcomeWait)")))
                return
            }
            outcome.finish(.failure(DatabaseUnavailable(reason: "no answer within \(deadline)")))
        }
        defer {
            timer.cancel()
            // A write already sent is left to finish: cancelling it could roll it back or not,
            // which is no better than waiting, and its requests were told the outcome is unknown.
            if !(gate?.wasSent ?? false) { work.cancel() }
        }
        return try await withTaskCancellationHandler {
            try await outcome.value
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }

    /// Connection failures become `DatabaseUnavailable`, except one during a COMMIT, which is
    /// `OutcomeUnknown`; anything else (a constraint violated, the operation's own errors) is
    /// passed on as it is.
    static func mapped(_ error: any Error) -> any Error {
        switch error {
        case let psql as PSQLError where isConnectionFailure(psql):
            return DatabaseUnavailable(reason: DatabaseProbe.reason(psql))
        case let transaction as PostgresTransactionError:
            if let psql = transaction.commitError as? PSQLError, isConnectionFailure(psql) {
                return OutcomeUnknown(reason: DatabaseProbe.reason(psql))
            }
            if let psql = transaction.beginError as? PSQLError, isConnectionFailure(psql) {
                return DatabaseUnavailable(reason: DatabaseProbe.reason(psql))
            }
            if let closure = transaction.closureError { return mapped(closure) }
            return transaction
        default:
            return error
        }
    }

    static func isConnectionFailure(_ error: PSQLError) -> Bool {
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions.
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("57P") || state.hasPrefix("08")
        default:
            return false
        }
    }
}

/// The first result of a race, handed to one waiter.
private final class Outcome<Value: Sendable>: Sendable {
    private let state = Mutex<(result: Result<Value, any Error>?, waiter: CheckedContinuation<Value, any Error>?)>((nil, nil))

    func finish(_ result: Result<Value, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<Value, any Error>? in
                    if let result = state.result { return result }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }
}

extension PostgresClient {
    /// Leases a connection for `body`, lease and statements together within `deadline`. A
    /// connection that goes silent (a server gone without a FIN, a partition) leaves its statement
    /// unanswered for good, and postgres-nio neither cancels it nor gives the connection back, so a
    /// deadline alone would leak one of the pool's connections per stall until none were left.
    /// Past the deadline this one is closed instead: its statement fails, the pool drops it and
    /// opens a new one, and the caller gets `DatabaseUnavailable`. A transaction cut off so rolls
    /// back, unless its COMMIT had already reached the server; callers must allow for either.
    ///
    /// With a `gate` (see `DatabaseUnavailable.guarding`), a write already sent is not cut off
    /// at the deadline: its caller is answered `OutcomeUnknown` after `outcomeWait`, and the
    /// write is left to finish (a lock may be all that holds it). Only if it is still unanswered
    /// `closeAfter` later is its connection taken to be silent and closed.
    public func withConnection<Result: Sendable>(
        deadline: Duration, gate: CommitGate? = nil, outcomeWait: Duration = .seconds(10), closeAfter: Duration = .seconds(60),
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let lease = LeaseState()
        do {
            return try await DatabaseUnavailable.guarding(deadline: deadline, gate: gate, outcomeWait: outcomeWait) {
                try await self.withConnection { connection in
                    guard lease.lease(connection) else { throw DatabaseUnavailable(reason: "no answer within \(deadline)") }
                    defer { lease.release() }
                    return try await body(connection)
                }
            }
        } catch let error as DatabaseUnavailable {
            lease.abandon()
            throw error
        } catch let error as OutcomeUnknown {
            Task {
                try? await Task.sleep(for: closeAfter)
                lease.abandon()  // nothing if it finished meanwhile
            }
            throw error
        }
    }
}

extension PostgresClient {
    /// A transaction on a connection leased under `deadline`, closed if it goes silent (see
    /// `withConnection(deadline:gate:outcomeWait:closeAfter:)`).
    ///
    /// With `waitOnceSent`, a write: after BEGIN, `body` runs only if the deadline has not given
    /// up (otherwise the transaction rolls back with nothing written and the caller gets
    /// `DatabaseUnavailable`); once it has run, its outcome is waited for, as `CommitGate` says.
    public func withTransaction<Result: Sendable>(
        deadline: Duration, waitOnceSent: Bool = false, outcomeWait: Duration = .seconds(10), closeAfter: Duration = .seconds(60),
        logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let gate = waitOnceSent ? CommitGate() : nil
        return try await withConnection(deadline: deadline, gate: gate, outcomeWait: outcomeWait, closeAfter: closeAfter) { connection in
            try await connection.withTransaction(logger: logger) { connection in
                guard gate?.send() ?? true else { throw DatabaseUnavailable(reason: "the deadline passed before the write was sent") }
                return try await body(connection)
            }
        }
    }
}

/// Whether a connection leased under a deadline is still the caller's. Once it is back in the
/// pool it may be another caller's and must not be closed; until then, abandoning closes it
/// (under the lock, so the pool cannot have it back first).
private final class LeaseState: Sendable {
    private enum State { case waiting, leased(PostgresConnection), released, abandoned }
    private let state = Mutex<State>(.waiting)

    /// False if the caller gave up before the lease came.
    func lease(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard case .waiting = state else { return false }
            state = .leased(connection)
            return true
        }
    }

    func release() {
        state.withLock { state in
            if case .leased = state { state = .released }
        }
    }

    func abandon() {
        state.withLock { state in
            if case .leased(let connection) = state { connection.close().whenComplete { _ in } }
            state = .abandoned
        }
    }
}
