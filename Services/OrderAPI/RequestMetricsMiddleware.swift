import HTTPTypes
import Hummingbird
import Metrics
import Synchronization

/// The HTTP metrics of Hummingbird's `MetricsMiddleware`, under the same names, labels and unit
/// (the SLO rules and the dashboard read `http_server_request_duration` and the rest unchanged),
/// recorded once the handler has answered rather than once the body is written.
///
/// Hummingbird's middleware records after the write by turning every response body into a stream,
/// so the head and the body of every answer went out as two writes with a flush each: two
/// syscalls, two TCP segments and two hops through the channel's writer per response (two
/// socket writes per request under `pipeline.sh`, where one carries the whole answer). Every body
/// the API answers with is one buffer, written at once; the time to write it is not worth that.
/// Like Hummingbird's, a request that ends in an error counts in `hb.requests` and
/// `hb.request.errors` by its status, and not in the duration.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    private let metrics: Handles

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        metrics = Handles(factory: factory)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let active = metrics.active(request.method)
        active.increment()
        defer { active.decrement() }
        do {
            let response = try await next(request, context)
            let endpoint = metrics.endpoint(route: context.endpointPath ?? "Unknown", method: request.method, status: response.status.code)
            endpoint.requests.increment()
            let elapsed = (ContinuousClock.now - start).components
            endpoint.duration.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? HTTPResponse.Status.internalServerError.code
            let endpoint = metrics.endpoint(route: context.endpointPath ?? "NotFound", method: request.method, status: status)
            endpoint.requests.increment()
            endpoint.errors.increment()
            throw error
        }
    }

    /// The metric handles, made once per method and per route, method and status.
    final class Handles: Sendable {
        struct Endpoint: Sendable {
            var requests: Counter
            var duration: Timer
            var errors: Counter
        }

        private struct Key: Hashable {
            var route: String
            var method: HTTPRequest.Method
            var status: Int
        }

        private let factory: any MetricsFactory
        private let meters = Mutex<[HTTPRequest.Method: Meter]>([:])
        private let endpoints = Mutex<[Key: Endpoint]>([:])

        init(factory: any MetricsFactory) {
            self.factory = factory
        }

        func active(_ method: HTTPRequest.Method) -> Meter {
            meters.withLock { meters in
                if let meter = meters[method] { return meter }
                let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)], factory: factory)
                meters[method] = meter
                return meter
            }
        }

        func endpoint(route: String, method: HTTPRequest.Method, status: Int) -> Endpoint {
            endpoints.withLock { endpoints in
                let key = Key(route: route, method: method, status: status)
                if let endpoint = endpoints[key] { return endpoint }
                let dimensions = [("http.route", route), ("http.request.method", method.rawValue), ("http.response.status_code", String(status))]
                let endpoint = Endpoint(
                    requests: Counter(label: "hb.requests", dimensions: dimensions, factory: factory),
                    duration: Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory),
                    errors: Counter(label: "hb.request.errors",
                                    dimensions: [("http.route", route), ("http.request.method", method.rawValue), ("error.type", String(status))],
                                    factory: factory))
                endpoints[key] = endpoint
                return endpoint
            }
        }
    }
}
