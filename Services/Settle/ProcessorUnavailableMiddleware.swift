import Hummingbird
import Logging

/// Turns a failure that has no HTTP answer of its own (PostgreSQL unreachable, a lost
/// connection mid-transaction) into 503 `processor_unavailable`.
///
/// Nothing was stored then (or, if a COMMIT's answer was lost, the stored answer is replayed to
/// the retry), so a 503 is the truthful answer: retry with the same key.
struct ProcessorUnavailableMiddleware: RouterMiddleware {
    typealias Context = ProcessorRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            logger.error("request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            throw ProcessorError.unavailable("The processor's store is unavailable; retry with the same Idempotency-Key.")
        }
    }
}
