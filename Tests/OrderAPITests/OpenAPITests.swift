import Foundation
import SettleTestSupport
import Testing
import Yams
@testable import OrderAPI

/// openapi.yaml and the router stay in lock-step: every route is in the spec and every path
/// and method of the spec is a route, and the running API serves the very file.
@Suite("OpenAPI document")
struct OpenAPITests {
    static let operationsRoutes = ["GET /healthz", "GET /readyz", "GET /metrics"]

    @Test("Every route is described, every described operation is routed")
    func routesMatchSpec() async throws {
        let url = TestStack.packageRoot.appendingPathComponent("openapi.yaml")
        let document = try #require(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        var specified: [String] = []
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "patch", "delete"].contains(method) {
                specified.append("\(method.uppercased()) \(path)")
            }
        }
        let described = specified
        try await APIHarness.run { api in
            let routed = api.routes.routes + Self.operationsRoutes
            #expect(Set(routed) == Set(described))
            let served = try await api.request(.get, "/openapi.yaml", as: nil)
            #expect(served.status == .ok)
            #expect(served.bytes == Array(try Data(contentsOf: url)))
        }
    }
}
