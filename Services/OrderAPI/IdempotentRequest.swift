import Foundation
import Hummingbird
import Logging
import Metrics
import SettleStorage

/// Runs a POST under its `Idempotency-Key` (DESIGN.md contract clause 4): the same key and
/// body answer the stored status and body with `Idempotent-Replayed: true`; a different body is
/// 422 `idempotency_key_reused`; a key whose first request is still running is 409
/// `idempotency_key_in_use`. Without a key the request simply runs.
struct IdempotentRequest: Sendable {
    let store: IdempotencyStore
    let logger: Logger

    func run(
        key: String?, merchant: UUID, method: String, path: String, requestHash: [UInt8],
        _ operation: (IdempotencyClaim?) async throws -> Response
    ) async throws -> Response {
        guard let key else { return try await operation(nil) }
        let outcome = try await store.claim(merchant: merchant, key: key, method: method, path: path, requestHash: requestHash)
        switch outcome {
        case .replay, .inFlight, .mismatch:
            return try Self.answer(outcome)
        case .claimed(let claim):
            Self.claimedCount.increment()
            do {
                return try await operation(claim)
            } catch is IdempotencyClaimLost {
                throw Self.inUse
            } catch {
                // Nothing committed: give the key back so the client can retry with it.
                do {
                    try await store.release(claim)
                } catch let releaseError {
                    logger.warning("idempotency key not released; it frees itself after the lock time-out",
                                   metadata: ["error": "\(releaseError)"])
                }
                throw error
            }
        }
    }

    /// Answers a request whose work found its key already taken (`POST /v1/orders` takes the
    /// key in the statement that creates the order): the stored answer, 422 for another
    /// request's key, or 409 while the first request is still running.
    func answerTakenKey(_ use: IdempotencyKeyUse) async throws -> Response {
        let outcome = try await store.existing(merchant: use.merchant, key: use.key, method: use.method, path: use.path,
                                               requestHash: use.requestHash)
        return try Self.answer(outcome ?? .inFlight)
    }

    /// Counts a request that took its key in its own transaction.
    static func countNewKey() { claimedCount.increment() }

    /// The answer for a key that is not this request's to run under.
    private static func answer(_ outcome: IdempotencyStore.Outcome) throws -> Response {
        switch outcome {
        case .replay(let status, let body):
            replayedCount.increment()
            return JSONResponse.make(HTTPResponse.Status(code: status), body, headers: [IdempotencyKeyHeader.replayed: "true"])
        case .inFlight, .claimed:
            inUseCount.increment()
            throw inUse
        case .mismatch:
            reusedCount.increment()
            throw APIProblem(.unprocessableContent, code: "idempotency_key_reused",
                             detail: "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                             param: "Idempotency-Key")
        }
    }

    static let inUse = APIProblem(.conflict, code: "idempotency_key_in_use",
                                  detail: "A request with this Idempotency-Key is still being processed; retry later.",
                                  param: "Idempotency-Key", headers: [.retryAfter: "1"])

    private static func outcomes(_ outcome: String) -> Counter {
        Counter(label: "settle_api_idempotency_requests_total", dimensions: [("outcome", outcome)])
    }
    private static let claimedCount = outcomes("new")
    private static let replayedCount = outcomes("replayed")
    private static let inUseCount = outcomes("in_use")
    private static let reusedCount = outcomes("reused")
}
