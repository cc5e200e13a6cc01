import Hummingbird
import Logging
import Metrics
import NIOCore
import SettleStorage
import Tracing

/// Turns every error into a problem document, so no error reaches the client in another shape:
/// the router's own 404/405, an oversized body, PostgreSQL going away. Anything not known here
/// is a bug: it is logged and answered 500 `internal_error`.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The API's routes, so a known path with the wrong method is 405 with `Allow`, not 404.
    var routes: RouteTable?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router only knows 404; a path that exists under other methods is a 405.
            let allowed = routes?.methods(allowedOn: request.uri.path) ?? []
            let answer = allowed.isEmpty ? error : HTTPError(.methodNotAllowed, headers: [.allow: allowed.joined(separator: ", ")])
            return Self.response(for: answer, request: request, logger: context.logger)
        } catch {
            return Self.response(for: error, request: request, logger: context.logger)
        }
    }

    /// Every problem answered is counted by its stable code (`settle_api_problems_total`), and
    /// a 5xx marks the request's span as failed with the error that caused it.
    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        let problem = problem(for: error, request: request, logger: logger)
        Counter(label: "settle_api_problems_total", dimensions: [("code", problem.code)]).increment()
        if problem.status.code >= 500, let span = InstrumentationSystem.tracer.activeSpan(identifiedBy: ServiceContext.current ?? .topLevel) {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
        }
        return problem.response()
    }

    static func problem(for error: any Error, request: Request, logger: Logger) -> APIProblem {
        switch error {
        case let problem as APIProblem:
            return problem
        case is NIOTooManyBytesError:
            return APIProblem(.contentTooLarge, code: "body_too_large", detail: "The request body is larger than 64 KiB.")
        case is DatabaseUnavailable:
            logger.warning("database unavailable", metadata: ["error": "\(error)"])
            return .databaseUnavailable()
        case is OutcomeUnknown:
            logger.warning("outcome unknown", metadata: ["error": "\(error)"])
            return .outcomeUnknown()
        case is OrderIngest.ShuttingDown:
            return APIProblem(.serviceUnavailable, code: "shutting_down",
                              detail: "This instance is shutting down; nothing was created. Retry with the same Idempotency-Key.",
                              headers: [.retryAfter: "1"])
        case let error as HTTPError where error.status == .notFound:
            return APIProblem(.notFound, code: "route_not_found", detail: "No route for \(request.method) \(request.uri.path).")
        case let error as HTTPError where error.status == .methodNotAllowed:
            return APIProblem(.methodNotAllowed, code: "method_not_allowed",
                              detail: "\(request.method) is not allowed on \(request.uri.path).", headers: error.headers)
        case let error as HTTPError where error.status.code < 500:
            return APIProblem(error.status, code: "invalid_request", detail: error.body ?? error.status.reasonPhrase)
        default:
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return APIProblem(.internalServerError, code: "internal_error", detail: "An internal error occurred.")
        }
    }
}
