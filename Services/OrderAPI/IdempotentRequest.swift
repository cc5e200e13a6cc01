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
        let store = self.store
        let outcome = try await DatabaseUnavailable.guarding {
            try await store.claim(merchant: merchant, key: key, method: method, path: path, requestHash: requestHash)
        }
        switch outcome {
        case .replay(let status, let body):
            Self.replayedCount.increment()
            return JSONResponse.make(HTTPResponse.Status(code: status), body, headers: [IdempotencyKeyHeader.replayed: "true"])
        case .inFlight:
            Self.inUseCount.increment()
            throw Self.inUse
        case .mismatch:
            Self.reusedCount.increment()
            throw APIProblem(.unprocessableContent, code: "idempotency_key_reused",
                             detail: "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                             param: "Idempotency-Key")
        case .claimed(let claim):
            Self.claimedCount.increment()
            do {
                return try await operation(claim)
            } catch is IdempotencyClaimLost {
                throw Self.inUse
            } catch {
                // Nothing committed: give the key back so the client can retry with it.
                do {
                    try await DatabaseUnavailable.guarding(deadline: .seconds(2)) { try await store.release(claim) }
                } catch let releaseError {
                    logger.warning("idempotency key not released; it frees itself after the lock time-out",
                                   metadata: ["error": "\(releaseError)"])
                }
                throw error
            }
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
