import Metrics
import Prometheus

/// swift-metrics backed by swift-prometheus; `/metrics` renders `registry`.
public enum SettleMetrics {
    /// Bootstraps the process-wide metrics system and returns the registry to expose.
    /// - Parameter valueBuckets: histogram buckets for value recorders by label (e.g. batch sizes).
    public static func bootstrap(valueBuckets: [String: [Double]] = [:]) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets = valueBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Powers of two from 1 to 4,096: sizes of batches.
    public static let sizeBuckets: [Double] = (0...12).map { Double(1 << $0) }

    /// The registry in the Prometheus text format.
    public static func render(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
