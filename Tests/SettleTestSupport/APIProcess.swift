import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A real `settle-api` process of a test's own, on a free port, with the stack's Redis and
/// broker unless `values` say otherwise; it is killed when `children` are stopped.
public struct APIProcess: Sendable {
    public let process: ChildProcess
    public let port: Int

    public static func start(_ values: [String: String], children: ChildProcesses) async throws -> APIProcess {
        let port = try FreePort.make()
        var environment = ["REDIS_URL": TestStack.shared.redisURL, "KAFKA_BROKERS": TestStack.shared.kafkaBrokers,
                           "SETTLE_API_PORT": String(port), "SETTLE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"]
        for (key, value) in values { environment[key] = value }
        let process = try ChildProcess(TestStack.executable("settle-api"), [], environment: ChildProcesses.environment(environment))
        children.append(process)
        try await eventually("settle-api to answer /healthz") {
            guard process.isRunning else { throw Failure(description: "settle-api exited at start:\n\(process.errorTail())") }
            return (try? await ServiceEndpoint.get("http://127.0.0.1:\(port)/healthz").status) == 200
        }
        return APIProcess(process: process, port: port)
    }

    public struct Answer: Sendable {
        public var status: Int
        public var body: String
        public var cacheControl: String?

        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
    }

    /// One request with the key as a bearer token and a fresh `Idempotency-Key`. A 503 that asks
    /// for a retry is retried with the same key, as a client would, up to three times: a loaded
    /// machine's slow PostgreSQL should not fail a test of something else.
    public func request(_ method: HTTPMethod, _ path: String, key: String?, body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        request.headers.add(name: "Idempotency-Key", value: UniqueName.make("request"))
        var answer = try await send(request)
        for _ in 0..<3 where RetryableAnswer.asksForRetry(status: answer.status, code: answer.json["code"] as? String, keyed: true) {
            try await Task.sleep(for: .milliseconds(500))  // the client's back-off, as Retry-After asks
            answer = try await send(request)
        }
        return answer
    }

    private func send(_ request: HTTPClientRequest) async throws -> Answer {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return Answer(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)),
                      cacheControl: response.headers.first(name: "Cache-Control"))
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }
}

/// What a client retries: a 503 saying PostgreSQL could not be used (nothing was done), or,
/// for a request with an Idempotency-Key, one saying its outcome is unknown (the retry replays it).
public enum RetryableAnswer {
    public static func asksForRetry(status: Int, code: String?, keyed: Bool) -> Bool {
        status == 503 && (code == "database_unavailable" || (keyed && code == "outcome_unknown"))
    }
}
