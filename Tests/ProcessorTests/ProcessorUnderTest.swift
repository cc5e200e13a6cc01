import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleTestSupport

/// A `settle processor` child process of one test, and a client for its HTTP API.
final class ProcessorUnderTest: Sendable {
    let baseURL: String
    private let process: ChildProcess

    /// Starts the simulator and waits until it answers `/healthz`.
    init(databaseURL: URL, schema: String, arguments extra: [String] = []) async throws {
        let port = try FreePort.make()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL.absoluteString
        environment["SETTLE_LOG_LEVEL"] = "warning"
        environment["SETTLE_DATABASE_POOL_SIZE"] = "4"  // tests share one server's connection limit
        environment["SETTLE_PROCESSOR_PORT"] = nil
        process = try ChildProcess(TestStack.executable("settle"),
                                   ["processor", "--port", "\(port)", "--schema", schema] + extra, environment: environment)
        baseURL = "http://127.0.0.1:\(port)"
        let process = process, baseURL = baseURL
        try await eventually("settle processor to answer /healthz") {
            guard process.isRunning else { throw Failure(description: "settle processor exited at start:\n\(process.errorTail())") }
            var request = HTTPClientRequest(url: baseURL + "/healthz")
            request.method = .GET
            guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)) else { return false }
            _ = try? await response.body.collect(upTo: 1 << 16)
            return response.status == .ok
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// SIGKILL, as a crash; returns once the process is gone.
    func kill() async throws {
        process.kill(SIGKILL)
        try await eventually("settle processor to exit") { process.outputClosed }
    }

    static func chargeBody(_ orderID: String, method: String, amount: Int = 1299, currency: String = "usd") -> String {
        #"{"order_id":"\#(orderID)","amount":\#(amount),"currency":"\#(currency)","payment_method":"\#(method)"}"#
    }

    static func refundBody(_ orderID: String, amount: Int = 1299, currency: String = "usd") -> String {
        #"{"order_id":"\#(orderID)","amount":\#(amount),"currency":"\#(currency)"}"#
    }

    func charge(_ orderID: String, method: String, key: String?) async throws -> ProcessorReply {
        try await post("/charges", body: Self.chargeBody(orderID, method: method), key: key)
    }

    func refund(_ orderID: String, key: String?) async throws -> ProcessorReply {
        try await post("/refunds", body: Self.refundBody(orderID), key: key)
    }

    func post(_ path: String, body: String, key: String?) async throws -> ProcessorReply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key { request.headers.add(name: "Idempotency-Key", value: key) }
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    func get(_ path: String) async throws -> ProcessorReply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .GET
        return try await send(request)
    }

    func counts(_ orderID: String) async throws -> ChargeCounts {
        let reply = try await get("/charges/\(orderID)")
        guard reply.status == 200 else { throw Failure(description: "GET /charges/\(orderID): \(reply.status) \(reply.text)") }
        return try JSONDecoder().decode(ChargeCounts.self, from: Data(reply.bytes))
    }

    /// `POST /faults`; fails the test unless it answered 200.
    @discardableResult
    func setFaults(_ json: String) async throws -> ProcessorReply {
        let reply = try await post("/faults", body: json, key: nil)
        guard reply.status == 200 else { throw Failure(description: "POST /faults \(json): \(reply.status) \(reply.text)") }
        return reply
    }

    private func send(_ request: HTTPClientRequest) async throws -> ProcessorReply {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return ProcessorReply(
            status: Int(response.status.code),
            bytes: Array(body.readableBytesView),
            contentType: response.headers.first(name: "Content-Type"),
            replayed: response.headers.first(name: "Idempotent-Replayed") == "true"
        )
    }
}
