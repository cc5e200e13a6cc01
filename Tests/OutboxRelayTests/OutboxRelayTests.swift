import Foundation
import PostgresNIO
import SettleStorage
import SettleTestSupport
import Testing

@Suite("Outbox relay")
struct OutboxRelayTests {
    /// `count` rows for each of `keys` keys, interleaved: k0:0, k1:0, …, k0:1, k1:1, …
    static func stream(keys: Int, perKey: Int, prefix: String = "order") -> [(key: String, sequence: Int)] {
        (0..<perKey).flatMap { sequence in (0..<keys).map { ("\(prefix)-\($0)", sequence) } }
    }

    @Test("A transaction holding an early row open for 2 s: later rows of its order wait for it, nothing is skipped, no clock decides")
    func earlyTransactionHeldOpen() async throws {
        try await RelayFixture.run { fixture in
            try await fixture.withRelay { reader in
                // The relay is known to be publishing before the scenario starts.
                try await fixture.insert([(key: "warm-up", sequence: 0)])
                try await eventually("the relay to publish a first row") { reader.all.contains { $0.key == "warm-up" } }
                try await Self.holdEarlyTransaction(fixture, reader: reader)
            }
        }
    }

    /// A transaction inserts order K's first event and stays open for 2 s while K's later events
    /// and another order's commit; then K's events must reach Kafka in id order, none skipped.
    static func holdEarlyTransaction(_ fixture: RelayFixture, reader: TopicReader) async throws {
        // Order K and another order L in the same shard, so one publisher reads both.
        let keys = try await Self.keysInOneShard(fixture, count: 2)
        let (k, l) = (keys[0], keys[1])
        let logger = RelayFixture.logger
        var configuration = try DatabaseConfiguration.connection(url: fixture.databaseURL)
        configuration.options.connectTimeout = .seconds(5)
        let early = try await PostgresConnection.connect(configuration: configuration, id: 9, logger: logger)
        do {
            // The early transaction takes the lowest id (K's first event) and stays open…
            try await early.query("BEGIN", logger: logger)
            try await early.query("""
                INSERT INTO outbox (event_id, topic, key, payload, headers)
                VALUES (gen_random_uuid(), \(fixture.topic), \(k), \(#"{"key":"\#(k)","sequence":0}"#)::jsonb, '{"event-id":"early"}')
                """, logger: logger)
            // …while K's later events and L's commit, each in its own transaction. Their rows read
            // as a minute old, so no rule based on creation time would hold them back.
            for (key, sequence) in [(k, 1), (l, 0), (k, 2), (l, 1)] {
                try await fixture.database.query("""
                    INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
                    VALUES (gen_random_uuid(), \(fixture.topic), \(key), \(#"{"key":"\#(key)","sequence":\#(sequence)}"#)::jsonb,
                            jsonb_build_object('event-id', gen_random_uuid()), now() - interval '1 minute')
                    """, logger: logger)
            }
            try await Task.sleep(for: .seconds(2))  // the scenario: the early transaction stays open this long
            // Two seconds is ten polls: a relay that published committed rows past the open
            // transaction's row would have sent K's later events by now, ahead of K's first.
            #expect(reader.all.filter { $0.key == k || $0.key == l }.isEmpty, "nothing behind the open transaction is published")
            try await early.query("COMMIT", logger: logger)

            try await eventually("every row to be published") { reader.all.count >= 6 }
            try await eventually("the outbox to be empty") { try await fixture.outboxCount() == 0 }
            let sequences = { (key: String) in reader.all.filter { $0.key == key }.map(\.sequence) }
            #expect(sequences(k) == [0, 1, 2], "K's events in id order")
            #expect(sequences(l) == [0, 1])
            #expect(reader.outOfOrderKeys().isEmpty)
        } catch {
            // A connection must be closed before it is released, or postgres-nio stops the process.
            try? await early.close()
            throw error
        }
        try await early.close()
    }

    @Test("Two relays share the shards; one SIGKILLed mid-stream: nothing lost, duplicates keep their event id, order per key kept")
    func relayKilledMidStream() async throws {
        try await RelayFixture.run { fixture in
            let reader = try TopicReader(fixture)
            async let reading: Void = reader.run()
            let rows = Self.stream(keys: 40, perKey: 100)
            try await fixture.insert(Array(rows.prefix(1_000)))
            let first = try fixture.startRelay()
            let second = try fixture.startRelay()
            try await eventually("some rows to be published") { reader.distinctEvents >= 300 }
            first.kill(SIGKILL)
            // More rows after the kill: the survivor must take the dead relay's shards.
            try await fixture.insert(Array(rows.dropFirst(1_000)))
            try await eventually("every row to be published", within: .seconds(60)) { reader.distinctEvents >= rows.count }
            try await eventually("the outbox to be empty") { try await fixture.outboxCount() == 0 }
            #expect(reader.distinctEvents == rows.count)
            #expect(reader.outOfOrderKeys().isEmpty, "order per key across the hand-over")
            #expect(reader.inconsistentDuplicates().isEmpty, "a duplicate carries its original event id")
            second.kill(SIGTERM)
            try await eventually("the relay to stop") { second.outputClosed }
            await reader.stop()
            await reading
        }
    }

    @Test("Its database connections go silent (a vanished peer, a partition: nothing answered, nothing closed): the stalled statement fails at its deadline, a new session takes the shards, and every row is published in order")
    func silentDatabaseConnection() async throws {
        try await RelayFixture.run { fixture in
            let (proxy, through) = try await StallingProxy.start(before: fixture.databaseURL)
            let reader = try TopicReader(fixture)
            async let reading: Void = reader.run()
            let relay = try fixture.startRelay(environment: [
                "DATABASE_URL": through.absoluteString, "SETTLE_RELAY_STATEMENT_DEADLINE_MS": "1000",
            ])
            let rows = Self.stream(keys: 10, perKey: 20)
            try await fixture.insert(Array(rows.prefix(100)))
            try await eventually("the first rows to be published") { reader.distinctEvents >= 100 }
            proxy.stall()
            // Written straight to PostgreSQL: only the relay's own connections are silent.
            try await fixture.insert(Array(rows.dropFirst(100)))
            try await eventually("every row to be published by a new session", within: .seconds(30)) { reader.distinctEvents >= rows.count }
            #expect(reader.outOfOrderKeys().isEmpty)
            relay.kill(SIGKILL)
            try await eventually("the relay to stop") { relay.outputClosed }
            try await proxy.stop()
            await reader.stop()
            await reading
        }
    }

    @Test("All brokers down for 10 s under a stream of rows: the relay keeps them and drains when they return, in order")
    func brokerDown() async throws {
        try await RelayFixture.run { fixture in
            try await fixture.withRelay { reader in
                let rows = Self.stream(keys: 20, perKey: 30)
                try await fixture.insert(Array(rows.prefix(200)))
                try await eventually("the first rows to be published") { reader.distinctEvents >= 200 }
                for broker in 1...3 { try await fixture.broker.admin.brokerDown(broker) }
                try await fixture.insert(Array(rows.dropFirst(200)))
                // The outage lasts 10 s: the fault's length, not a wait for something to happen.
                try await Task.sleep(for: .seconds(10))
                #expect(try await fixture.outboxCount() > 0, "rows wait in the outbox while no broker answers")
                for broker in 1...3 { try await fixture.broker.admin.brokerUp(broker) }
                try await eventually("every row to be published", within: .seconds(60)) { reader.distinctEvents >= rows.count }
                try await eventually("the outbox to be empty") { try await fixture.outboxCount() == 0 }
                #expect(reader.outOfOrderKeys().isEmpty)
            }
        }
    }

    @Test("A producer that hits a fatal error is replaced: /readyz says so meanwhile, then every row is published, in order")
    func fatalProducerReplaced() async throws {
        try await RelayFixture.run { fixture in
            let endpoint = ServiceEndpoint(port: try FreePort.make())
            try await fixture.withRelay(environment: ["SETTLE_RELAY_PORT": String(endpoint.port)]) { reader in
                try await eventually("the relay to be ready") { (try? await endpoint.get("/readyz").status) == 200 }
                let rows = Self.stream(keys: 10, perKey: 20)
                try await fixture.insert(Array(rows.prefix(50)))
                try await eventually("the first rows to be published") { reader.distinctEvents >= 50 }
                // /readyz is watched from before the fault on: the relay may fail and replace its
                // producer (about a second) while the rows below are still being inserted.
                let reportedFailure = Task { () -> Bool in
                    while !Task.isCancelled {
                        if let readiness = try? await endpoint.get("/readyz"), readiness.status == 503,
                           readiness.body.contains("fatal error") { return true }
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    return false
                }
                defer { reportedFailure.cancel() }
                // An out-of-order sequence answer is fatal to an idempotent producer: it can send nothing more.
                try await fixture.broker.admin.pushErrors(apiKey: 0, codes: [45])
                try await fixture.insert(Array(rows.dropFirst(50)))
                try await eventually("every row to be published", within: .seconds(30)) { reader.distinctEvents >= rows.count }
                reportedFailure.cancel()
                #expect(await reportedFailure.value, "/readyz never reported the failed producer")
                try await eventually("/readyz to be ready again") { (try? await endpoint.get("/readyz").status) == 200 }
                #expect(try await endpoint.metric("settle_relay_producer_rebuilds_total") >= 1)
                #expect(reader.outOfOrderKeys().isEmpty)
                #expect(reader.inconsistentDuplicates().isEmpty)
            }
        }
    }

    @Test("Without notifications (LISTEN off) the fallback poll still publishes")
    func pollWithoutNotify() async throws {
        try await RelayFixture.run { fixture in
            try await fixture.withRelay(environment: ["SETTLE_RELAY_LISTEN": "false"]) { reader in
                try await fixture.insert(Self.stream(keys: 5, perKey: 4))
                try await eventually("every row to be published") { reader.distinctEvents >= 20 }
                #expect(reader.outOfOrderKeys().isEmpty)
            }
        }
    }

    @Test("A row of a sampled trace is published in a span of the relay's own (same trace, a new parent); any other row keeps its traceparent")
    func publishSpan() async throws {
        try await RelayFixture.run { fixture in
            try await fixture.withRelay { reader in
                let trace = String(repeating: "ab", count: 16), parent = String(repeating: "cd", count: 8)
                try await fixture.insert([(key: "sampled", sequence: 1)], traceparent: "00-\(trace)-\(parent)-01")
                try await fixture.insert([(key: "unsampled", sequence: 1)], traceparent: "00-\(trace)-\(parent)-00")
                try await eventually("both rows to be published") { reader.distinctEvents >= 2 }
                let sampled = reader.all.first { $0.key == "sampled" }?.traceparent?.split(separator: "-").map(String.init) ?? []
                #expect(sampled.count == 4 && sampled[1] == trace && sampled[3] == "01", "\(sampled)")
                #expect(sampled.count == 4 && sampled[2] != parent && sampled[2].count == 16, "the message's parent is the relay's span")
                #expect(reader.all.first { $0.key == "unsampled" }?.traceparent == "00-\(trace)-\(parent)-00")
            }
        }
    }

    static func keysInOneShard(_ fixture: RelayFixture, count: Int) async throws -> [String] {
        let rows = try await fixture.database.query("""
            SELECT k FROM (SELECT 'gap-' || n AS k FROM generate_series(1, 200) n) keys
            WHERE (hashtext(k) & 15) = (hashtext('gap-1') & 15) ORDER BY k LIMIT \(count)
            """, logger: RelayFixture.logger)
        var keys: [String] = []
        for try await key in rows.decode(String.self) { keys.append(key) }
        return keys
    }
}
