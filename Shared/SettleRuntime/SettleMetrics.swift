import Metrics
import Prometheus

/// swift-metrics backed by swift-prometheus; `/metrics` renders `registry`.
public enum SettleMetrics {
    /// Bootstraps the process-wide metrics system and returns the registry to expose.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// The registry in the Prometheus text format.
    public static func render(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
