import Hummingbird

/// An answer that ends a request early (bad input, an injected or simulated outage, a key
/// reused for another order); never stored under the idempotency key.
struct ProcessorError: HTTPResponseError {
    var answer: ProcessorAnswer

    init(_ status: Int, code: String, message: String) {
        answer = .error(status, code: code, message: message)
    }

    var status: HTTPResponse.Status { .init(code: answer.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        answer.response()
    }

    static func badRequest(_ code: String, _ message: String) -> ProcessorError {
        ProcessorError(400, code: code, message: message)
    }

    static func unavailable(_ message: String) -> ProcessorError {
        ProcessorError(503, code: "processor_unavailable", message: message)
    }

    static let keyReused = ProcessorError(
        422, code: "idempotency_key_reused",
        message: "This Idempotency-Key was already used for another order."
    )
}
