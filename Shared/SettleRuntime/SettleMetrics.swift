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
        factory.defaultDurationHistogramBuckets = durationBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// 0.5 ms to 10 s in 1-2-5 steps: fine enough to tell a 2 ms publish from a 20 ms one; plus
    /// 250 ms, the ingest SLO's threshold (deploy/prometheus/rules.yml counts answers within it).
    public static let durationBuckets: [Duration] =
        ([.microseconds(500), .milliseconds(250)] + [1, 10, 100, 1000].flatMap { scale in [1, 2, 5].map { Duration.milliseconds($0 * scale) } }
            + [.seconds(10), .seconds(30), .seconds(60)]).sorted()

    /// Powers of two from 1 to 4,096: sizes of batches.
    public static let sizeBuckets: [Double] = (0...12).map { Double(1 << $0) }

    /// The registry in the Prometheus text format.
    public static func render(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
