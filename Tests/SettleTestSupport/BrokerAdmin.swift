import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The development broker's fault-injection port (see `settle broker`).
public struct BrokerAdmin: Sendable {
    public let baseURL: String

    public init(baseURL: String = TestStack.shared.brokerAdminURL) {
        self.baseURL = baseURL
    }

    public func createTopic(_ name: String, partitions: Int) async throws {
        try await call(.POST, "/topics/\(name)?partitions=\(partitions)")
    }

    public func brokerDown(_ id: Int) async throws { try await call(.POST, "/brokers/\(id)/down") }
    public func brokerUp(_ id: Int) async throws { try await call(.POST, "/brokers/\(id)/up") }

    /// Adds round-trip latency to every response of a broker.
    public func roundTripTime(_ id: Int, milliseconds: Int) async throws { try await call(.POST, "/brokers/\(id)/rtt?ms=\(milliseconds)") }

    /// The next requests of a Kafka API fail with these codes (0 = Produce).
    public func pushErrors(apiKey: Int, codes: [Int]) async throws {
        try await call(.POST, "/errors/\(apiKey)?codes=\(codes.map(String.init).joined(separator: ","))")
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private func call(_ method: HTTPMethod, _ path: String) async throws {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw Failure(description: "\(method) \(path): \(response.status) \(String(buffer: body))")
        }
    }
}
