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

    @Test("A row committed after a higher id was published is still published (the bigserial gap)")
    func outOfOrderCommits() async throws {
        try await RelayFixture.run { fixture in
            let reader = try TopicReader(fixture)
            async let reading: Void = reader.run()
            let relay = try fixture.startRelay()

            // Two keys in the same shard, so one publisher reads both in id order.
            let keys = try await Self.keysInOneShard(fixture, count: 2)
            let logger = RelayFixture.logger
            var configuration = try DatabaseConfiguration.connection(url: fixture.databaseURL)
            configuration.options.connectTimeout = .seconds(5)
            let early = try await PostgresConnection.connect(configuration: configuration, id: 9, logger: logger)
            // The early transaction takes the lower id and stays open…
            try await early.query("BEGIN", logger: logger)
            try await early.query("""
                INSERT INTO outbox (event_id, topic, key, payload, headers)
                VALUES (gen_random_uuid(), \(fixture.topic), \(keys[0]), \(#"{"key":"\#(keys[0])","sequence":0}"#)::jsonb, '{"event-id":"early"}')
                """, logger: logger)
            // …while a later one, with a higher id, commits and is published. It reads as a
            // minute old, so deleting it moves the shard's read floor past the early row's id:
            // only the relay's periodic scan from the start can find the early row then.
            let later = try await PostgresConnection.connect(configuration: configuration, id: 10, logger: logger)
            try await later.query("""
                INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
                VALUES (gen_random_uuid(), \(fixture.topic), \(keys[1]), \(#"{"key":"\#(keys[1])","sequence":0}"#)::jsonb,
                        '{"event-id":"later"}', now() - interval '1 minute')
                """, logger: logger)
            try await later.close()
            try await eventually("the later row to be published") { reader.all.contains { $0.key == keys[1] } }
            #expect(!reader.all.contains { $0.key == keys[0] })

            try await early.query("COMMIT", logger: logger)
            try await eventually("the early row, committed last, to be published too") { reader.all.contains { $0.key == keys[0] } }
            try await eventually("the outbox to be empty") { try await fixture.outboxCount() == 0 }
            try await early.close()
            relay.kill(SIGTERM)
            try await eventually("the relay to stop") { relay.outputClosed }
            await reader.stop()
            await reading
        }
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

    @Test("All brokers down for 10 s under a stream of rows: the relay keeps them and drains when they return, in order")
    func brokerDown() async throws {
        try await RelayFixture.run { fixture in
            let reader = try TopicReader(fixture)
            async let reading: Void = reader.run()
            let relay = try fixture.startRelay()
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
            relay.kill(SIGTERM)
            try await eventually("the relay to stop") { relay.outputClosed }
            await reader.stop()
            await reading
        }
    }

    @Test("Without notifications (LISTEN off) the fallback poll still publishes")
    func pollWithoutNotify() async throws {
        try await RelayFixture.run { fixture in
            let reader = try TopicReader(fixture)
            async let reading: Void = reader.run()
            let relay = try fixture.startRelay(environment: ["SETTLE_RELAY_LISTEN": "false"])
            try await fixture.insert(Self.stream(keys: 5, perKey: 4))
            try await eventually("every row to be published") { reader.distinctEvents >= 20 }
            #expect(reader.outOfOrderKeys().isEmpty)
            relay.kill(SIGTERM)
            try await eventually("the relay to stop") { relay.outputClosed }
            await reader.stop()
            await reading
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
