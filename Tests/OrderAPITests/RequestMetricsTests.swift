import Foundation
import Hummingbird
import HummingbirdTesting
@testable import OrderAPI
import Prometheus
import Testing

@Suite("Request metrics")
struct RequestMetricsTests {
    /// The names, labels and unit the SLO rules (deploy/prometheus/rules.yml) and the dashboard
    /// read: an answered request in the duration histogram and the request count by route,
    /// method and status; one that ended in an error in the count and the error count.
    @Test("Answered and failed requests are counted by route, method and status under Hummingbird's metric names")
    func metricsByRoute() async throws {
        let registry = PrometheusCollectorRegistry()
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware(factory: PrometheusMetricsFactory(registry: registry)))
        router.post("/v1/orders") { _, _ in Response(status: .created, body: .init(byteBuffer: ByteBuffer(string: "{}"))) }
        router.post("/v1/orders/:id/refund") { _, _ -> Response in throw HTTPError(.conflict) }
        try await Application(router: router).test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/orders", method: .post) { #expect($0.status == .created) }
            }
            try await client.execute(uri: "/v1/orders/x/refund", method: .post) { #expect($0.status == .conflict) }
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
        func value(_ name: String, _ labels: [String]) -> Double? {
            lines.first { line in line.hasPrefix(name + "{") && labels.allSatisfy { line.contains($0) } }
                .flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let created = [#"http_route="/v1/orders""#, #"http_request_method="POST""#, #"http_response_status_code="201""#]
        #expect(value("http_server_request_duration_count", created) == 3, "\(lines.filter { $0.contains("duration") })")
        #expect(value("http_server_request_duration_bucket", created + [#"le="0.25""#]) == 3)
        #expect(value("hb_requests", created) == 3, "\(lines.filter { $0.hasPrefix("hb_") })")
        let conflict = [#"http_route="/v1/orders/{id}/refund""#, #"http_response_status_code="409""#]
        #expect(value("hb_requests", conflict) == 1)
        #expect(value("hb_request_errors", [#"http_route="/v1/orders/{id}/refund""#, #"error_type="409""#]) == 1)
        #expect((value("http_server_request_duration_count", conflict) ?? 0) == 0, "an error is not timed, as in Hummingbird's")
        #expect(value("http_server_active_requests", [#"http_request_method="POST""#]) == 0)
    }
}
