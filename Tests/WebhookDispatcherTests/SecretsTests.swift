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

                let api = try await APIProcess.start(["DATABASE_URL": databaseURL, "SETTLE_LOG_LEVEL": "trace"], children: fixture.started)
                let apiPort = api.port
                let dispatcherPort = try FreePort.make()
                let dispatcher = try await fixture.startDispatcher(["DATABASE_URL": databaseURL, "SETTLE_LOG_LEVEL": "trace"], port: dispatcherPort)

                // Every path that handles a secret.
                let rolled = try await APIKeyStore(client: fixture.database, logger: DispatcherFixture.logger)
                    .roll(merchant: fixture.merchant, scope: .everyLiveKey, overlap: .zero, claim: nil)
                guard case .rolled(let first) = rolled else { throw DispatcherFixture.Failure(description: "no key") }
                let firstKey = first.key
                #expect(try await api.request(.GET, "/v1/orders", key: firstKey).status == 200)
                let created = try await api.request(.POST, "/v1/webhook-endpoints", key: firstKey,
                                                  body: #"{"url":"\#(receiver.url("hooks"))","enabled_events":["*"]}"#)
                #expect(created.status == 201 && created.cacheControl == "no-store")
                let endpointID = try #require(created.json["id"] as? String)
                let firstSecret = try #require(created.json["secret"] as? String)
                let rotated = try await api.request(.POST, "/v1/webhook-endpoints/\(endpointID)/rotate-secret", key: firstKey)
                #expect(rotated.cacheControl == "no-store")
                let secondSecret = try #require(rotated.json["secret"] as? String)
                let roll = try await api.request(.POST, "/v1/api-keys/roll", key: firstKey, body: #"{"expire_current_in_seconds":60}"#)
                #expect(roll.status == 201 && roll.cacheControl == "no-store")
                let secondKey = try #require(roll.json["secret"] as? String)
                // A key one character off, as a mistyped real key would be.
                let nearMiss = String(secondKey.dropLast()) + (secondKey.hasSuffix("0") ? "1" : "0")
                let errors = [
                    try await api.request(.GET, "/v1/orders", key: nearMiss),
                    try await api.request(.GET, "/v1/orders", key: "Basic " + secondKey),
                    try await api.request(.POST, "/v1/orders", key: secondKey, body: #"{"amount":"\#(secondKey)"}"#),
                ]
                #expect(errors.allSatisfy { $0.status >= 400 })
                #expect(try await api.request(.POST, "/v1/api-keys/\(first.record.id.uuidString.lowercased())/revoke", key: secondKey).status == 200)
                let revokedUse = try await api.request(.GET, "/v1/orders", key: firstKey)
                #expect(revokedUse.status == 401)
                let event = try await fixture.publishEvent()
                try await eventually("the webhook to arrive") { receiver.requests("hooks").contains { $0.webhookID == event.lowercased } }

                // Failed authentications are counted by reason, and only there told apart.
                for reason in ["unknown", "malformed", "revoked"] {
                    let count = try await ServiceEndpoint(port: apiPort).metric("settle_api_auth_failures_total", labels: "reason=\"\(reason)\"")
                    #expect(count >= 1, "settle_api_auth_failures_total{reason=\"\(reason)\"}")
                }
                // Every problem answered is counted by its code.
                let invalidKeys = try await ServiceEndpoint(port: apiPort).metric("settle_api_problems_total", labels: "code=\"api_key_invalid\"")
                #expect(invalidKeys >= 2, "settle_api_problems_total{code=\"api_key_invalid\"}")
                let metrics = [try await ServiceEndpoint.get("http://127.0.0.1:\(apiPort)/metrics").body,
                               try await ServiceEndpoint.get("http://127.0.0.1:\(dispatcherPort)/metrics").body]
                let status = try await Tool.output(TestStack.executable("settle").path, ["status"], environment: ["DATABASE_URL": databaseURL])
                api.process.kill(SIGTERM)
                dispatcher.kill(SIGTERM)
                try await eventually("the services to stop and their output to end") { api.process.outputClosed && dispatcher.outputClosed }

                said += api.process.output + api.process.errorLines + dispatcher.output + dispatcher.errorLines + metrics + [status]
                said += (errors + [revokedUse]).map(\.body)
                #expect(api.process.output.count + api.process.errorLines.count > 20, "the API logged at trace level")
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
