import HTTPTypes
import Hummingbird

/// Applies the per-key rate limit to every authenticated request and puts `RateLimit-Limit`,
/// `RateLimit-Remaining` and `RateLimit-Reset` on the response, errors included; a limited
/// request gets 429 `rate_limited` with `Retry-After`. When Redis cannot answer, the request
/// passes if the limiter fails open (the default) and gets 503 `rate_limiter_unavailable` otherwise.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let limiter: RateLimiter

    static let limitHeader = HTTPField.Name("RateLimit-Limit")!
    static let remainingHeader = HTTPField.Name("RateLimit-Remaining")!
    static let resetHeader = HTTPField.Name("RateLimit-Reset")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let merchant = try context.requireMerchant()
        guard let decision = await limiter.decide(keyHash: merchant.keyHash) else {
            guard limiter.failOpen else {
                throw APIProblem(.serviceUnavailable, code: "rate_limiter_unavailable",
                                 detail: "The rate limiter is unavailable; retry shortly.", headers: [.retryAfter: "1"])
            }
            return try await next(request, context)
        }
        var headers: HTTPFields = [
            Self.limitHeader: String(decision.limit),
            Self.remainingHeader: String(decision.remaining),
            Self.resetHeader: String(decision.resetSeconds),
        ]
        var response: Response
        if decision.allowed {
            do {
                response = try await next(request, context)
            } catch {
                response = ProblemMiddleware<Context>.response(for: error, request: request, logger: context.logger)
            }
        } else {
            headers[.retryAfter] = String(decision.retryAfterSeconds)
            response = APIProblem(.tooManyRequests, code: "rate_limited",
                                  detail: "Too many requests for this API key; retry after \(decision.retryAfterSeconds) s.").response()
        }
        for field in headers { response.headers[field.name] = field.value }
        return response
    }
}
