import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// Traces (DESIGN.md "Observability"). Every service runs swift-otel's tracer, so one W3C
/// `traceparent` follows an order: the HTTP request's span → the outbox row → the Kafka
/// message's headers → the worker's span (and its call to the processor) → the outcome's outbox
/// row → the dispatcher's span → the webhook request. Log lines made inside a span carry its
/// `trace_id` and `span_id`.
///
/// Spans leave the process only when OpenTelemetry's own variables say so:
/// `OTEL_TRACES_EXPORTER=otlp` with `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. http://jaeger:4318, over
/// OTLP/HTTP); `OTEL_TRACES_SAMPLER` and the other `OTEL_*` settings apply as documented by
/// swift-otel. Without them the context still flows, and nothing is exported or recorded but the
/// spans of a caller that sent a sampled `traceparent`.
public enum SettleTracing {
    /// The `traceparent` header's name (W3C Trace Context).
    public static let header = "traceparent"

    /// Installs the tracer for this process (once, at start); the returned service exports and
    /// flushes spans, and belongs in the service group.
    public static func bootstrap(service: String, logger: Logger,
                                 environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = service
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.exporter = .none
        if environment["OTEL_TRACES_EXPORTER"]?.lowercased() != "otlp" {
            // Nothing leaves the process, so only a caller that asked for its trace (a sampled
            // traceparent) gets recording spans; every other span is dropped at once, keeping a
            // fresh context that still propagates. (Side by side, recording every request's span
            // cost the API about a quarter more CPU per order.) Exporting, the default is
            // parentbased_always_on; OTEL_TRACES_SAMPLER overrides either.
            configuration.traces.sampler = .parentBasedAlwaysOff
            onlySampledCallers.store(environment["OTEL_TRACES_SAMPLER"] == nil, ordering: .relaxed)
        }
        configuration.diagnosticLogger = .custom(ServiceHost.quiet(logger))
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }

    /// True once `bootstrap` installed a tracer that records only the spans of callers that sent
    /// a sampled `traceparent` (nothing exported, no `OTEL_TRACES_SAMPLER`): any other span is
    /// never recorded, so whatever is made only to be recorded in it can be skipped.
    public static var recordsOnlySampledCallers: Bool { onlySampledCallers.load(ordering: .relaxed) }
    private static let onlySampledCallers = Atomic<Bool>(false)

    /// The `trace_id` and `span_id` of the current span, for every log line.
    public static func loggingMetadataProvider() -> Logger.MetadataProvider {
        OTel.makeLoggingMetadataProvider()
    }

    /// The `traceparent` of `context` (by default the current task's), nil outside any trace.
    public static func traceparent(of context: ServiceContext? = ServiceContext.current) -> String? {
        guard let context else { return nil }
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        return carrier[header]
    }

    /// A context whose parent is the span `traceparent` names (none if it is missing or invalid).
    public static func context(traceparent: String?) -> ServiceContext {
        var context = ServiceContext.topLevel
        if let traceparent {
            InstrumentationSystem.instrument.extract([header: traceparent], into: &context, using: DictionaryExtractor())
        }
        return context
    }
}

/// Writes a context into a string dictionary (a Kafka message's or an HTTP request's headers).
public struct DictionaryInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads a context from a string dictionary.
public struct DictionaryExtractor: Extractor {
    public init() {}
    public func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
