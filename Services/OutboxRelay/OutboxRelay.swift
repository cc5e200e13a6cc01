import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import SettleKafka
import SettleDomain
import SettleRuntime
import SettleStorage
import Synchronization
import Tracing

/// Publishes outbox rows to Kafka (DESIGN.md contract clauses 1, 5 and 6).
///
/// The outbox is split into 16 shards by key; each shard has one publisher at a time, the relay
/// whose session holds the shard's advisory lock. Relays share the shards evenly and take over
/// the shards of a relay that died (its session ends, so its locks go) within about a second.
/// Each round reads the owned shards' next rows in one query, in id order per shard, sends them
/// all at once, and deletes in one statement those the broker acknowledged. A relay killed
/// between the acknowledgement and the delete leaves rows that the next owner sends again:
/// duplicates with their original `event-id`, which consumers drop, and never a loss or a
/// reordering.
///
/// Gap safety without clocks: a round reads only rows whose transaction is older than every
/// transaction still in progress (below the snapshot's xmin), in (transaction id, id) order, so a
/// row that commits late can never land behind a position the relay already passed (the
/// bigserial-gap bug cannot lose it), and one order's events are published in commit order,
/// because every transaction writing an order's event takes the order's row lock first
/// (migration 0006). The price: the xmin is the whole server's, so while any transaction that
/// has written something stays open (in any database), every shard's newer rows wait for it.
/// The outbox-age gauge shows such a stall.
final class OutboxRelay: Service, Sendable {
    static let ownerApplicationName = "settle-relay-owner"
    static let backlogInterval: Duration = .seconds(10)

    private let databaseURL: URL
    private let producers: RelayProducer
    private let settings: RelaySettings
    private let logger: Logger
    private let doorbell = Doorbell()
    private let stopping = Atomic<Bool>(false)
    private let backoff = Backoff()

    private let published = Counter(label: "settle_relay_published_total")
    private let batchSizes = Recorder(label: OutboxRelay.batchSizeMetric, aggregate: true)
    private let publishLatency = Timer(label: "settle_relay_publish_latency_seconds")
    private let ownedShards = Gauge(label: "settle_relay_owned_shards")
    private let backlogRows = Gauge(label: "settle_relay_outbox_backlog_rows")
    private let oldestAge = Gauge(label: "settle_relay_outbox_oldest_age_seconds")
    static let batchSizeMetric = "settle_relay_batch_size"

    init(databaseURL: URL, producers: RelayProducer, settings: RelaySettings, logger: Logger) {
        self.databaseURL = databaseURL
        self.producers = producers
        self.settings = settings
        self.logger = logger
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if settings.listen {
                    group.addTask { await self.listen() }
                }
                await self.publishUntilStopped()
                group.cancelAll()
            }
            // The relay finished its round; then the producer flushes what is in flight.
            await self.producers.shutdown()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    /// Holds a session (and with it the shard locks) and publishes; on any failure the session
    /// is dropped, which gives the shards up, and a new one starts after a jittered backoff.
    private func publishUntilStopped() async {
        var attempt = 0
        while !isStopping {
            do {
                var configuration = try DatabaseConfiguration.connection(url: databaseURL, applicationName: Self.ownerApplicationName,
                                                                         synchronousCommit: false)
                // The round's statements are prepared once per session (no parse per round), but
                // planned on every run: a plan kept from when the outbox was small would scan the
                // whole table, dead rows included, once a burst has filled it.
                configuration.options.additionalStartupParameters.append(("plan_cache_mode", "force_custom_plan"))
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: ServiceHost.quiet(logger))
                attempt = 0
                do {
                    try await publish(OutboxStore(connection: connection, logger: logger))
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                ownedShards.record(0)
                if isStopping { break }
                let delay = backoff.delay(attempt: attempt)
                attempt += 1
                // A producer that hit a fatal error would fail every round: replace it (after the delay).
                if await producers.replaceIfFailed(after: max(delay, .seconds(1))) { continue }
                logger.warning("relay paused; retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
        ownedShards.record(0)
    }

    private func publish(_ store: OutboxStore) async throws {
        var owned: Set<Int> = []
        var planned = ContinuousClock.now - .seconds(60)
        var measured = planned
        // Per owned shard, the position of the last row this session deleted; rounds read after
        // it. Nothing can appear behind it later: rows are read only below the snapshot's xmin.
        var positions: [Int: OutboxPosition] = [:]
        while !isStopping {
            if ContinuousClock.now - planned >= .seconds(1) {
                owned = try await rebalance(store, owned: owned)
                positions = positions.filter { owned.contains($0.key) }
                planned = .now
            }
            if ContinuousClock.now - measured >= Self.backlogInterval {
                try await measureBacklog(store)
                measured = .now
            }
            let shards = owned.sorted().map { (shard: $0, after: positions[$0, default: .start]) }
            let sent = try await publishRound(shards: shards, store: store) { row in
                positions[row.shard] = max(positions[row.shard, default: .start], row.position)
            }
            if sent == 0 { await doorbell.wait(upTo: settings.pollInterval) }
            if let pause = settings.pause(afterSending: sent), !isStopping { try? await Task.sleep(for: pause) }
        }
        for shard in owned { _ = try? await within { try await store.unlock(shard: shard) } }
    }

    /// Gives back shards above this relay's share and takes free ones up to it.
    private func rebalance(_ store: OutboxStore, owned: Set<Int>) async throws -> Set<Int> {
        var owned = owned
        let live = try await within { try await store.liveRelays(applicationName: Self.ownerApplicationName) }
        let plan = ShardPlan.make(owned: owned, liveRelays: live, shardCount: OutboxStore.shardCount)
        for shard in plan.release {
            try await within { try await store.unlock(shard: shard) }
            owned.remove(shard)
            logger.notice("shard handed back", metadata: ["shard": "\(shard)", "relays": "\(live)"])
        }
        var wanted = plan.wanted
        for shard in 0..<OutboxStore.shardCount where wanted > 0 && !owned.contains(shard) {
            if try await within({ try await store.tryLock(shard: shard) }) {
                owned.insert(shard)
                wanted -= 1
                logger.notice("shard taken", metadata: ["shard": "\(shard)", "relays": "\(live)"])
            }
        }
        ownedShards.record(owned.count)
        return owned
    }

    /// Counts the rows waiting and the age of the oldest for the backlog gauges. The count reads
    /// the whole table, and under load that is mostly rows deleted since autovacuum last passed
    /// (tens of megabytes at a few thousand orders a second): done every second by each relay,
    /// it was PostgreSQL's largest statement after the relays' reads, so it runs every
    /// `backlogInterval`, which alerting on a 30 s age tolerates.
    private func measureBacklog(_ store: OutboxStore) async throws {
        let backlog = try await within { try await store.backlog() }
        backlogRows.record(backlog.rows)
        oldestAge.record(backlog.oldestAge)
    }

    /// Reads the next rows of every owned shard in one query, sends them all at once (in
    /// (transaction id, id) order within each shard, and at most one row per key), and deletes in one statement the
    /// rows the broker acknowledged: per shard the acknowledged prefix, never a row after one
    /// that failed, so a failed row is sent again before anything behind it. A failure then
    /// ends the relay's session (the rows stay and are sent again). One round is three round
    /// trips whatever the number of shards, so a row waits for about one round, not one per shard.
    private func publishRound(shards: [(shard: Int, after: OutboxPosition)], store: OutboxStore,
                              deleted: (OutboxRow) -> Void) async throws -> Int {
        guard !shards.isEmpty else { return 0 }
        let limit = settings.batchSize
        let rows = OutboxRow.oneRoundPrefix(try await within { try await store.pending(shards: shards, limit: limit) })
        guard !rows.isEmpty else { return 0 }
        // A row of a sampled trace is published in a span of the relay's own, which the message's
        // traceparent names; any other row keeps the traceparent it was written with, at no cost.
        var spans: [(any Span)?] = []
        spans.reserveCapacity(rows.count)
        let messages = rows.map { row in
            var headers = row.headers
            var span: (any Span)?
            let topic = settings.topicPrefix + row.topic
            if let traceparent = headers[SettleTracing.header], traceparent.hasSuffix("-01") {
                let started = startSpan("settle-relay publish", context: SettleTracing.context(traceparent: traceparent), ofKind: .producer)
                started.attributes["messaging.destination.name"] = topic
                started.attributes["settle.event_id"] = row.eventID.lowercased
                headers[SettleTracing.header] = SettleTracing.traceparent(of: started.context) ?? traceparent
                span = started
            }
            spans.append(span)
            return KafkaProducerMessage(topic: topic, key: Array(row.key.utf8), value: Array(row.payload.utf8),
                                        headers: headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, value: $0.value) })
        }
        let results = await producers.producer.sendAll(messages)
        for (span, result) in zip(spans, results) {
            guard let span else { continue }
            if case .failure(let error) = result { span.recordError(error) }
            span.end()
        }
        var stopped: Set<Int> = []
        var firstError: (any Error)?
        var acknowledged: [OutboxRow] = []
        for (row, result) in zip(rows, results) where !stopped.contains(row.shard) {
            switch result {
            case .success: acknowledged.append(row)
            case .failure(let error):
                stopped.insert(row.shard)
                firstError = firstError ?? error
            }
        }
        if !acknowledged.isEmpty {
            let ids = acknowledged.map(\.id)
            try await within { try await store.delete(ids: ids) }
            for row in acknowledged { deleted(row) }
            let now = Date()
            for row in acknowledged {
                publishLatency.recordNanoseconds(Int64(max(0, now.timeIntervalSince(row.createdAt)) * 1_000_000_000))
            }
            published.increment(by: acknowledged.count)
            batchSizes.record(acknowledged.count)
            if logger.logLevel <= .info {
                // Each event with its trace: the relay publishes inside no span of its own.
                for row in acknowledged {
                    logger.info("event published", metadata: [
                        "event_id": "\(row.eventID.lowercased)", "key": "\(row.key)", "topic": "\(row.topic)",
                        "trace_id": "\(row.headers[SettleTracing.header]?.split(separator: "-").dropFirst().first ?? "")",
                    ])
                }
            }
        }
        if let firstError { throw firstError }
        return acknowledged.count
    }

    /// A statement of the session, with a deadline. postgres-nio was seen to leave a query
    /// unanswered for good when PostgreSQL went away under it (an immediate shutdown: the
    /// connection closed, the query neither answered nor failed), which stalled the relay with
    /// no error at all; past the deadline the statement fails, the session is dropped and a new
    /// one starts. Anything it had not deleted is read and sent again (duplicates with their
    /// `event-id`, never a loss).
    private func within<Result: Sendable>(_ statement: @escaping @Sendable () async throws -> Result) async throws -> Result {
        try await DatabaseUnavailable.guarding(deadline: settings.statementDeadline, statement)
    }

    /// LISTEN on a connection of its own; every notification rings the doorbell. Reconnects with
    /// backoff; the fallback poll covers notifications lost meanwhile.
    private func listen() async {
        var attempt = 0
        while !isStopping {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try DatabaseConfiguration.connection(url: databaseURL, applicationName: "settle-relay-listen"),
                    id: 2, logger: ServiceHost.quiet(logger))
                attempt = 0
                do {
                    try await connection.listen(on: "settle_outbox") { notifications in
                        for try await _ in notifications {
                            doorbell.ring()
                            if isStopping { break }
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if isStopping { return }
                attempt += 1
                try? await Task.sleep(for: backoff.delay(attempt: attempt))
            }
        }
    }
}
