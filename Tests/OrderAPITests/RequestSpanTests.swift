@testable import OrderAPI
import Testing

@Suite("Request spans")
struct RequestSpanTests {
    @Test("Only a missing traceparent and a version-00 one with the sampled bit clear surely ask for no recording")
    func samplingRequests() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736", parent = "00f067aa0ba902b7"
        #expect(!RequestSpanMiddleware.asksForSampling(nil))
        #expect(!RequestSpanMiddleware.asksForSampling("00-\(trace)-\(parent)-00"))
        #expect(!RequestSpanMiddleware.asksForSampling("00-\(trace)-\(parent)-02"))
        #expect(RequestSpanMiddleware.asksForSampling("00-\(trace)-\(parent)-01"))
        #expect(RequestSpanMiddleware.asksForSampling("00-\(trace)-\(parent)-03"))
        // Anything this parse does not know may ask for it, and goes the way that records.
        #expect(RequestSpanMiddleware.asksForSampling("01-\(trace)-\(parent)-00"))
        #expect(RequestSpanMiddleware.asksForSampling("00-\(trace)-\(parent)-0x"))
        #expect(RequestSpanMiddleware.asksForSampling("00-\(trace)-\(parent)x00"))
        #expect(RequestSpanMiddleware.asksForSampling("00-\(trace)-\(parent)-00-extra"))
        #expect(RequestSpanMiddleware.asksForSampling(""))
    }
}
