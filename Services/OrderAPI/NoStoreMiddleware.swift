import HTTPTypes
import Hummingbird

/// `Cache-Control: no-store` on every `/v1` response, errors and replays included: each is one
/// merchant's, and some carry a secret shown once (a webhook endpoint's `whsec_…`), which no
/// cache between the merchant and Settle may keep.
struct NoStoreMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = ProblemMiddleware<Context>.response(for: error, request: request, logger: context.logger)
        }
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
