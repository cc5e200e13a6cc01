import AsyncHTTPClient
import NIOCore

/// A Settle process's operations port, as a test reads it: `/healthz`, `/readyz`, `/metrics`.
public struct ServiceEndpoint: Sendable {
    public let port: Int

    public init(port: Int) {
        self.port = port
    }

    public func get(_ path: String) async throws -> (status: Int, body: String) {
        try await Self.get("http://127.0.0.1:\(port)\(path)")
    }

    /// A counter or gauge from `/metrics`, summed over the series whose labels contain `labels`.
    public func metric(_ name: String, labels: String = "") async throws -> Double {
        let text = try await get("/metrics").body
        return text.split(separator: "\n").filter { line in
            line.hasPrefix(name + "{") || line.hasPrefix(name + " ")
        }.filter { labels.isEmpty || $0.contains(labels) }.compactMap { line in
            line.split(separator: " ").last.flatMap { Double($0) }
        }.reduce(0, +)
    }

    public static func get(_ url: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), String(buffer: body))
    }
}
