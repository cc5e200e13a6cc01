import HTTPTypes
import Hummingbird
import Synchronization

/// Registers the API's routes and remembers each as `METHOD /path/{param}`, the way
/// openapi.yaml names it, so a test can hold the routes and the spec in lock-step.
final class RouteTable: Sendable {
    private let entries = Mutex<[String]>([])

    var routes: [String] { entries.withLock { $0.sorted() } }

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
