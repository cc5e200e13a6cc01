import Foundation
import PostgresNIO
import SettleRuntime
import SettleTestSupport
import Testing

/// `settle up` keeps the demo merchant of `demo.env` across runs; its webhooks must still reach
/// this stack's sink when the stack's ports changed since (another SETTLE_PORT_BASE on the same
/// home), or every later `settle demo` waits in vain for its webhook.
@Suite("The demo account")
struct DemoAccountTests {
    @Test("settle up again points the demo merchant's endpoint at this stack's sink, with the same merchant and key")
    func endpointFollowsTheSink() async throws {
        try await ScratchStack.run("demo-sink") { stack in
            let demoFile = stack.home.appendingPathComponent("demo.env")
            let before = StackEnvironment.parse(try String(contentsOf: demoFile, encoding: .utf8))
            let endpoint = try #require(before["SETTLE_DEMO_ENDPOINT_ID"].flatMap(UUID.init(uuidString:)))
            let sink = try #require(stack.environment["SETTLE_SINK_URL"])
            let url = try #require(stack.environment["DATABASE_URL"].flatMap(URL.init(string:)))
            // The sink the endpoint names is somewhere else now, as after a change of ports.
            try await TestDatabase.run(on: url) { client in
                try await client.query("UPDATE webhook_endpoints SET url = 'http://127.0.0.1:9/hooks/demo' WHERE id = \(endpoint)", logger: DispatcherFixture.logger)
            }

            _ = try await stack.settle(["up"])

            let after = StackEnvironment.parse(try String(contentsOf: demoFile, encoding: .utf8))
            #expect(after["SETTLE_DEMO_MERCHANT_ID"] == before["SETTLE_DEMO_MERCHANT_ID"])
            #expect(after["SETTLE_DEMO_API_KEY"] == before["SETTLE_DEMO_API_KEY"])
            let current = try #require(after["SETTLE_DEMO_ENDPOINT_ID"].flatMap(UUID.init(uuidString:)))
            try await TestDatabase.run(on: url) { client in
                var live: String?
                for try await address in try await client.query(
                    "SELECT url FROM webhook_endpoints WHERE id = \(current) AND deleted_at IS NULL", logger: DispatcherFixture.logger
                ).decode(String.self) { live = address }
                #expect(live == sink + "/hooks/demo", "demo.env's endpoint \(current) is at \(live ?? "nowhere")")
                var moved = 0
                for try await count in try await client.query(
                    "SELECT count(*)::int FROM webhook_endpoints WHERE url = 'http://127.0.0.1:9/hooks/demo' AND deleted_at IS NULL",
                    logger: DispatcherFixture.logger
                ).decode(Int.self) { moved = count }
                #expect(moved == 0, "the endpoint at the old address is deleted, so no event is sent there")
            }
        }
    }
}
