import HTTPTypes
import Hummingbird
import SettleDomain
import SettleRuntime
import Tracing

/// Every request is a span, continuing the caller's `traceparent` if it sent one (outermost, so
/// the span's context reaches the order's outbox row and every log line of the request).
///
/// While the tracer records only the spans of callers that sent a sampled `traceparent` (nothing
/// is exported: `SettleTracing.recordsOnlySampledCallers`), any other request's span is never
/// recorded: it gets its span and context here, without the attributes Hummingbird's
/// `TracingMiddleware` builds for it, which nothing would read (they were about 3 % of the API's
/// CPU per order). A span that may be recorded goes through `TracingMiddleware`.
struct RequestSpanMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    private let recorded = TracingMiddleware<Context>()
    private static let traceparent = HTTPField.Name(SettleTracing.header)!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard SettleTracing.recordsOnlySampledCallers, !Self.asksForSampling(request.headers[Self.traceparent]) else {
            return try await recorded.handle(request, context: context, next: next)
        }
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HTTPFieldsExtractor())
        let span = startSpan("HTTP \(request.method.rawValue)", context: parent, ofKind: .server)
        defer { span.end() }
        return try await ServiceContext.$current.withValue(span.context) {
            try await next(request, context)
        }
    }

    /// Whether a `traceparent` may ask for its trace to be recorded: only a missing header and a
    /// version-00 one whose flags clear the sampled bit surely do not.
    static func asksForSampling(_ value: String?) -> Bool {
        guard let value else { return false }
        guard value.utf8.count == 55, value.hasPrefix("00-"), value.utf8.dropLast(2).last == UInt8(ascii: "-"),
              let flags = Hex.decode(String(value.suffix(2)))?.first else { return true }
        return flags & 1 == 1
    }
}

/// Reads a context from a request's header fields.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}
