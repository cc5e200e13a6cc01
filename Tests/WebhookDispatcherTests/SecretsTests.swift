import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleStorage
import SettleTestSupport
import Testing

/// Secrets never leak: a run of `settle-api` and `settle-dispatcher` at the most talkative log
/// level, through every path that handles a secret, then everything those processes and the CLI
/// said (logs, metrics, error bodies, `settle status`) is searched for every secret the run made.
@Suite("Secrets")
struct SecretsTests {
    struct Answer {
        var status: Int
        var body: String
        var cacheControl: String?
    }

    static func call(_ port: Int, _ method: HTTPMethod, _ path: String, key: String?, body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        request.headers.add(name: "Idempotency-Key", value: UniqueName.make("secrets"))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return Answer(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)),
                      cacheControl: response.headers.first(name: "Cache-Control"))
    }

    static func json(_ answer: Answer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }

    @Test("API keys, webhook secrets and the database password appear in no log line, metric, error body or settle status output")
    func secretsNeverLeak() async throws {
        try await DispatcherFixture.run { fixture in
            try await Receiver.run { receiver in
                // The test server trusts loopback, so a password is accepted and ignored by PostgreSQL,
                // yet it travels through every service's configuration as a real one would.
                let password = "pw" + UniqueName.make("db").replacingOccurrences(of: "-", with: "")
                var components = try #require(URLComponents(url: fixture.databaseURL, resolvingAgainstBaseURL: false))
                components.password = password
                let databaseURL = try #require(components.url).absoluteString
                var said: [String] = []

                // A setting that quotes the URL back must not quote the password.
                let badURL = "mysql://settle:\(password)@127.0.0.1/settle"
                let refused = try ChildProcess(TestStack.executable("settle-api"), [],
                                               environment: ChildProcesses.environment(["DATABASE_URL": badURL, "SETTLE_API_PORT": String(try FreePort.make())]))
                try await eventually("settle-api to refuse the malformed DATABASE_URL") { refused.outputClosed }
                #expect(refused.errorLines.joined().contains("DATABASE_URL"), "the refusal names the setting: \(refused.errorTail())")
                said += refused.output + refused.errorLines

                let apiPort = try FreePort.make()
                let api = try ChildProcess(TestStack.executable("settle-api"), [], environment: ChildProcesses.environment([
                    "DATABASE_URL": databaseURL, "REDIS_URL": TestStack.shared.redisURL, "KAFKA_BROKERS": TestStack.shared.kafkaBrokers,
                    "SETTLE_API_PORT": String(apiPort), "SETTLE_LOG_LEVEL": "trace", "SETTLE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
                ]))
                fixture.started.append(api)
                try await eventually("settle-api to answer /healthz") {
                    guard api.isRunning else { throw DispatcherFixture.Failure(description: "settle-api exited at start:\n\(api.errorTail())") }
                    return (try? await ServiceEndpoint.get("http://127.0.0.1:\(apiPort)/healthz").status) == 200
                }
                let dispatcherPort = try FreePort.make()
                let dispatcher = try await fixture.startDispatcher(["DATABASE_URL": databaseURL, "SETTLE_LOG_LEVEL": "trace"], port: dispatcherPort)

                // Every path that handles a secret.
                let rolled = try await APIKeyStore(client: fixture.database, logger: DispatcherFixture.logger)
                    .roll(merchant: fixture.merchant, scope: .everyLiveKey, overlap: .zero, claim: nil)
                guard case .rolled(let first) = rolled else { throw DispatcherFixture.Failure(description: "no key") }
                let firstKey = first.key
                #expect(try await Self.call(apiPort, .GET, "/v1/orders", key: firstKey).status == 200)
                let created = try await Self.call(apiPort, .POST, "/v1/webhook-endpoints", key: firstKey,
                                                  body: #"{"url":"\#(receiver.url("hooks"))","enabled_events":["*"]}"#)
                #expect(created.status == 201 && created.cacheControl == "no-store")
                let endpointID = try #require(Self.json(created)["id"] as? String)
                let firstSecret = try #require(Self.json(created)["secret"] as? String)
                let rotated = try await Self.call(apiPort, .POST, "/v1/webhook-endpoints/\(endpointID)/rotate-secret", key: firstKey)
                #expect(rotated.cacheControl == "no-store")
                let secondSecret = try #require(Self.json(rotated)["secret"] as? String)
                let roll = try await Self.call(apiPort, .POST, "/v1/api-keys/roll", key: firstKey, body: #"{"expire_current_in_seconds":60}"#)
                #expect(roll.status == 201 && roll.cacheControl == "no-store")
                let secondKey = try #require(Self.json(roll)["secret"] as? String)
                // A key one character off, as a mistyped real key would be.
                let nearMiss = String(secondKey.dropLast()) + (secondKey.hasSuffix("0") ? "1" : "0")
                let errors = [
                    try await Self.call(apiPort, .GET, "/v1/orders", key: nearMiss),
                    try await Self.call(apiPort, .GET, "/v1/orders", key: "Basic " + secondKey),
                    try await Self.call(apiPort, .POST, "/v1/orders", key: secondKey, body: #"{"amount":"\#(secondKey)"}"#),
                ]
                #expect(errors.allSatisfy { $0.status >= 400 })
                #expect(try await Self.call(apiPort, .POST, "/v1/api-keys/\(first.record.id.uuidString.lowercased())/revoke", key: secondKey).status == 200)
                let revokedUse = try await Self.call(apiPort, .GET, "/v1/orders", key: firstKey)
                #expect(revokedUse.status == 401)
                let event = try await fixture.publishEvent()
                try await eventually("the webhook to arrive") { receiver.requests("hooks").contains { $0.webhookID == event.lowercased } }

                let metrics = [try await ServiceEndpoint.get("http://127.0.0.1:\(apiPort)/metrics").body,
                               try await ServiceEndpoint.get("http://127.0.0.1:\(dispatcherPort)/metrics").body]
                let status = try await Tool.output(TestStack.executable("settle").path, ["status"], environment: ["DATABASE_URL": databaseURL])
                api.kill(SIGTERM)
                dispatcher.kill(SIGTERM)
                try await eventually("the services to stop and their output to end") { api.outputClosed && dispatcher.outputClosed }

                said += api.output + api.errorLines + dispatcher.output + dispatcher.errorLines + metrics + [status]
                said += (errors + [revokedUse]).map(\.body)
                #expect(api.output.count + api.errorLines.count > 20, "the API logged at trace level")
                let text = said.joined(separator: "\n")
                for (name, secret) in [("first API key", firstKey), ("rolled API key", secondKey), ("mistyped API key", nearMiss),
                                       ("webhook secret", firstSecret), ("rotated webhook secret", secondSecret), ("database password", password)] {
                    let whole = text.contains(secret)
                    // Nor a telling part of it (16 characters after the prefix).
                    let part = text.contains(String(secret.dropFirst(6).prefix(16)))
                    #expect(!whole && !part, "the \(name) leaked")
                }
            }
        }
    }
}
