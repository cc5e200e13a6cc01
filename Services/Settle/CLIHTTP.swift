import AsyncHTTPClient
import Foundation
import NIOCore

/// Requests the CLI's commands make of the stack's own HTTP services (the sink, the broker
/// admin, the simulator's controls): a GET gives the body of a 200, or nil for anything else,
/// including no answer within ten seconds.
enum CLIHTTP {
    /// POSTs `body` (JSON, if any); true when answered 2xx within ten seconds.
    static func post(_ url: String, json body: String? = nil) async -> Bool {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)) else { return false }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return (200..<300).contains(response.status.code)
    }

    static func get(_ url: String) async -> String? {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)), response.status == .ok,
              let body = try? await response.body.collect(upTo: 256 << 20) else { return nil }
        return String(buffer: body)
    }

    /// The body of a 200 that is a JSON object.
    static func json(_ url: String) async -> [String: Any]? {
        guard let text = await get(url) else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }
}
