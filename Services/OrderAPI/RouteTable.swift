import HTTPTypes
import Hummingbird
import Synchronization

/// Registers the API's routes and remembers each as `METHOD /path/{param}`, the way
/// openapi.yaml names it, so a test can hold the routes and the spec in lock-step.
final class RouteTable: Sendable {
    private let entries = Mutex<[String]>([])

    var routes: [String] { entries.withLock { $0.sorted() } }

    /// The methods registered for a concrete path (a `{param}` matches any one segment), for
    /// answering 405 with `Allow` rather than 404 when only the method is wrong.
    func methods(allowedOn path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return entries.withLock { entries in
            entries.compactMap { entry -> String? in
                let parts = entry.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                let template = parts[1].split(separator: "/", omittingEmptySubsequences: true)
                guard template.count == segments.count,
                      zip(template, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { return nil }
                return String(parts[0])
            }
        }
        .sorted()
    }

    func add(
        _ method: HTTPRequest.Method, _ path: String, to group: RouterGroup<APIRequestContext>, prefix: String,
        use handler: @escaping @Sendable (Request, APIRequestContext) async throws -> Response
    ) {
        group.on(RouterPath(path), method: method, use: handler)
        let spec = (prefix + "/" + path).split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
        entries.withLock { $0.append("\(method.rawValue) /\(spec.joined(separator: "/"))") }
    }

    func add(
        _ method: HTTPRequest.Method, _ path: String, to router: Router<APIRequestContext>,
        use handler: @escaping @Sendable (Request, APIRequestContext) async throws -> Response
    ) {
        router.on(RouterPath(path), method: method, use: handler)
        entries.withLock { $0.append("\(method.rawValue) \(path)") }
    }
}
