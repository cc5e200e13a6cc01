import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import SettleKafka
import SettleRuntime
import SettleStorage
import Synchronization

/// Publishes outbox rows to Kafka (DESIGN.md contract clauses 1, 5 and 6).
///
/// The outbox is split into 16 shards by key; each shard has one publisher at a time, the relay
/// whose session holds the shard's advisory lock. Relays share the shards evenly and take over
/// the shards of a relay that died (its session ends, so its locks go) within about a second.
/// A shard's rows are read in id order, sent in that order (all of a batch in flight at once),
/// and deleted once the broker acknowledged them. A relay killed between the acknowledgement
/// and the delete leaves rows that the next owner sends again: duplicates with their original
/// `event-id`, which consumers drop, and never a loss or a reordering.
///
/// Gap safety: rows are found by scanning what is still in the table, not by remembering the
/// highest id seen, so a row whose transaction commits after a higher id was published is still
/// found (the bigserial-gap bug cannot lose it). Order per key holds because every transaction
/// that writes an order's event locks the order's row first, so per key, id order is commit order.
final class OutboxRelay: Service, Sendable {
    static let ownerApplicationName = "settle-relay-owner"

    private let databaseURL: URL
    private let producer: KafkaProducer
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

    init(databaseURL: URL, producer: KafkaProducer, settings: RelaySettings, logger: Logger) {
        self.databaseURL = databaseURL
        self.producer = producer
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
                let connection = try await PostgresConnection.connect(
                    configuration: try DatabaseConfiguration.connection(url: databaseURL, applicationName: Self.ownerApplicationName),
                    id: 1, logger: ServiceHost.quiet(logger))
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
                logger.warning("relay paused; retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                attempt += 1
                try? await Task.sleep(for: delay)
            }
        }
        ownedShards.record(0)
    }

    private func publish(_ store: OutboxStore) async throws {
        var owned: Set<Int> = []
        var planned = ContinuousClock.now - .seconds(60)
        while !isStopping {
            if ContinuousClock.now - planned >= .seconds(1) {
                owned = try await rebalance(store, owned: owned)
                planned = .now
            }
            // The shards' batches go out together, so a row waits for one broker round trip,
            // not one per shard; each shard still has one batch at a time, in id order.
            let shards = owned
            let sent = try await withThrowingTaskGroup(of: Int.self) { group in
                for shard in shards.sorted() {
                    group.addTask { try await self.publishBatch(shard: shard, store: store) }
                }
                return try await group.reduce(0, +)
            }
            if sent == 0 { await doorbell.wait(upTo: settings.pollInterval) }
        }
        for shard in owned { try? await store.unlock(shard: shard) }
    }

    /// Gives back shards above this relay's share and takes free ones up to it.
    private func rebalance(_ store: OutboxStore, owned: Set<Int>) async throws -> Set<Int> {
        var owned = owned
        let live = try await store.liveRelays(applicationName: Self.ownerApplicationName)
        let plan = ShardPlan.make(owned: owned, liveRelays: live, shardCount: OutboxStore.shardCount)
        for shard in plan.release {
            try await store.unlock(shard: shard)
            owned.remove(shard)
            logger.info("shard handed back", metadata: ["shard": "\(shard)", "relays": "\(live)"])
        }
        var wanted = plan.wanted
        for shard in 0..<OutboxStore.shardCount where wanted > 0 && !owned.contains(shard) {
            if try await store.tryLock(shard: shard) {
                owned.insert(shard)
                wanted -= 1
                logger.info("shard taken", metadata: ["shard": "\(shard)", "relays": "\(live)"])
            }
        }
        ownedShards.record(owned.count)
        let backlog = try await store.backlog()
        backlogRows.record(backlog.rows)
        oldestAge.record(backlog.oldestAge)
        return owned
    }

    /// Sends the shard's next rows in id order, all in flight at once, and deletes those the
    /// broker acknowledged. A failed send stops the relay's session: the rows stay and are sent
    /// again, never after a later row of theirs was deleted.
    private func publishBatch(shard: Int, store: OutboxStore) async throws -> Int {
        let rows = try await store.pending(shard: shard, limit: settings.batchSize)
        guard !rows.isEmpty else { return 0 }
        let messages = rows.map { row in
            KafkaProducerMessage(topic: row.topic, key: Array(row.key.utf8), value: Array(row.payload.utf8),
                                 headers: row.headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, value: $0.value) })
        }
        let results = await producer.sendAll(messages)
        let acknowledged = results.prefix { if case .success = $0 { true } else { false } }.count
        if acknowledged > 0 {
            try await store.delete(ids: rows.prefix(acknowledged).map(\.id))
            let now = Date()
            for row in rows.prefix(acknowledged) {
                publishLatency.recordNanoseconds(Int64(max(0, now.timeIntervalSince(row.createdAt)) * 1_000_000_000))
            }
            published.increment(by: acknowledged)
            batchSizes.record(acknowledged)
        }
        if acknowledged < results.count, case .failure(let error) = results[acknowledged] {
            throw error
        }
        return acknowledged
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
