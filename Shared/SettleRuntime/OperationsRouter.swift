import Hummingbird
import Prometheus

/// The routes every Settle process serves: `/healthz` (alive), `/readyz` (dependencies
/// reachable) and `/metrics` (Prometheus text format).
public enum OperationsRouter {
    public static func add<Context: RequestContext>(
        to router: Router<Context>,
        registry: PrometheusCollectorRegistry,
        readiness: [ReadinessCheck]
    ) {
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"ok\"}")))
        }
        router.get("/readyz") { _, _ in
            var failures: [String] = []
            for check in readiness {
                do {
                    try await check.probe()
                } catch {
                    failures.append("\(check.name) at \(check.address): \(error)")
                }
            }
            let body: String
            if failures.isEmpty {
                body = "{\"status\":\"ready\"}"
            } else {
                var line = ""
                JSONLogHandler.appendValue(.array(failures.map { .string($0) }), to: &line)
                body = "{\"status\":\"not_ready\",\"failures\":\(line)}"
            }
            return Response(
                status: failures.isEmpty ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: body))
            )
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: SettleMetrics.render(registry)))
            )
        }
    }
}
