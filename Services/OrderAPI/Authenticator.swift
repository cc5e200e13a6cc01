import Foundation
import Hummingbird
import Metrics
import SettleDomain
import SettleRuntime
import SettleStorage

/// `Authorization: Bearer sk_…` on every `/v1` route. A key is looked up once and then
/// remembered (`APIKeyCache`, told of revocations through Redis), so authentication costs no
/// query per request; its use is noted for `last_used` off the request path (`APIKeyUsage`).
///
/// Failed authentications are limited per client address (GCRA in Redis, `failures`): once an
/// address is over the limit, every key it presents that this process does not already hold is
/// answered 429 with `Retry-After` before it is looked up, so the answers never tell a key that
/// exists from one that does not. An unknown, revoked or expired key gets the same 401; the
/// reason is only in `settle_api_auth_failures_total{reason}`.
struct Authenticator: RouterMiddleware {
    typealias Context = APIRequestContext

    let keys: APIKeyStore
    let cache: APIKeyCache
    let usage: APIKeyUsage
    let failures: RateLimiter
    let clientAddress: ClientAddress

    enum Failure: String, CaseIterable {
        case missing, malformed, unknown, revoked, expired
        /// Refused without a look-up: the client's address is over the limit of failures.
        case limited
    }

    private static let failureCounters = Dictionary(uniqueKeysWithValues: Failure.allCases.map {
        ($0, Counter(label: "settle_api_auth_failures_total", dimensions: [("reason", $0.rawValue)]))
    })

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            Self.failureCounters[.missing]?.increment()
            throw APIProblem.unauthorized("No API key provided. Send it as 'Authorization: Bearer sk_…'.")
        }
        guard header.hasPrefix("Bearer "), case let key = header.dropFirst("Bearer ".count), key.hasPrefix(APIKey.prefix) else {
            Self.failureCounters[.malformed]?.increment()
            throw APIProblem.unauthorized("The Authorization header must be 'Bearer sk_…'.")
        }
        let hash = APIKey.hash(String(key))
        let credential: APIKeyStore.Credential
        if let cached = cache.credential(for: hash) {
            credential = cached
        } else {
            let address = clientAddress.of(request, peer: context.remoteAddress)
            // Peek without counting: a limited address learns nothing from the look-up.
            if let decision = await failures.decide(subject: address, consume: false), !decision.allowed {
                Self.failureCounters[.limited]?.increment()
                throw Self.tooManyFailures(decision)
            }
            guard let found = try await keys.credential(keyHash: hash) else {
                throw await refuse(.unknown, address: address)
            }
            cache.remember(hash, found)
            credential = found
        }
        if let refusal = credential.refusal(at: Date()) {
            throw await refuse(refusal == .revoked ? .revoked : .expired, address: clientAddress.of(request, peer: context.remoteAddress))
        }
        usage.note(hash)
        var context = context
        context.merchant = AuthenticatedMerchant(id: credential.merchant, keyID: credential.keyID, keyHash: hash)
        context.logger[metadataKey: "merchant_id"] = "\(credential.merchant.lowercased)"
        return try await next(request, context)
    }

    /// Counts a refused key against the address and answers 401, or 429 once the address is over
    /// its limit. When Redis cannot be asked, the answer is 401 (the failure is still counted in
    /// the metric).
    private func refuse(_ failure: Failure, address: String) async -> APIProblem {
        Self.failureCounters[failure]?.increment()
        if let decision = await failures.decide(subject: address), !decision.allowed {
            return Self.tooManyFailures(decision)
        }
        return APIProblem.unauthorized("Invalid API key provided.")
    }

    private static func tooManyFailures(_ decision: RateLimiter.Decision) -> APIProblem {
        APIProblem(.tooManyRequests, code: "authentication_rate_limited",
                   detail: "Too many failed authentications from this address; retry after \(decision.retryAfterSeconds) s.",
                   headers: [.retryAfter: String(decision.retryAfterSeconds)])
    }
}
