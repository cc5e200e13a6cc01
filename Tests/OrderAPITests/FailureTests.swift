import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import SettleDomain
import SettleStorage
import SettleTestSupport
import Synchronization
import Testing
@testable import OrderAPI

@Suite("The API when its stores fail")
struct FailureTests {
    /// Runs `body` while a transaction holds `LOCK TABLE orders`, so a batch sent meanwhile waits
    /// in PostgreSQL; the lock goes when `body` returns.
    private static func holdingOrdersLock<T: Sendable>(_ api: APIHarness, _ body: () async throws -> T) async throws -> T {
        try await api.database.withTransaction(logger: APIHarness.logger) { connection in
            try await connection.query("LOCK TABLE orders IN EXCLUSIVE MODE", logger: APIHarness.logger)
            return try await body()
        }
    }

    private static let order = #"{"amount":700,"currency":"usd","payment_method":"pm_card_ok"}"#

    @Test("A batch held by a lock past the commit deadline, after it was sent, waits for COMMIT's answer: 201, never 'nothing was created'")
    func stalledBatchWaitsForCommit() async throws {
        // 3 s to send the batch (a loaded machine can take more than 1 s to hand it a connection).
        try await APIHarness.run(environment: ["SETTLE_INGEST_COMMIT_DEADLINE_MS": "3000"]) { api in
            let merchant = try await api.merchant()
            let request = try await Self.holdingOrdersLock(api) {
                // The batch's INSERT INTO orders waits for the lock, past the 3 s deadline.
                let request = Task { try await api.request(.post, "/v1/orders", as: merchant, body: Self.order) }
                try await eventually("the batch to wait on the lock") { try await api.ordersLockWaiters() > 0 }
                try await Task.sleep(for: .milliseconds(3500))  // the scenario: the stall outlasts the deadline
                return request
            }
            let response = try await request.value
            #expect(response.status == .created, "\(response.status) \(response.problemCode ?? "")")
            #expect(try await api.orderCount(merchant) == 1)
        }
    }

    @Test("A sent batch unanswered past the outcome wait: 503 outcome_unknown; it then commits, and a retry with the key replays it")
    func stalledBatchOutcomeUnknown() async throws {
        // The deadline is long enough for the batch to be sent on a busy machine: what is tested
        // is the wait after sending.
        try await APIHarness.run(environment: ["SETTLE_INGEST_COMMIT_DEADLINE_MS": "2000", "SETTLE_INGEST_OUTCOME_WAIT_MS": "700",
                                               "SETTLE_INGEST_BATCH_WAIT_MS": "100"]) { api in
            let merchant = try await api.merchant()
            let key = UniqueName.make("stalled")
            let (keyed, keyless) = try await Self.holdingOrdersLock(api) {
                // Both requests join one batch (it fills for 100 ms), which waits on the lock.
                async let keyed = api.request(.post, "/v1/orders", as: merchant, body: Self.order, idempotencyKey: key, retryingUnavailable: false)
                async let keyless = api.request(.post, "/v1/orders", as: merchant, body: Self.order)
                return try await (keyed, keyless)
            }
            for response in [keyed, keyless] {
                // "Nothing was created" (database_unavailable) would be a lie: the batch commits below.
                #expect(response.status == .serviceUnavailable)
                #expect(response.problemCode == "outcome_unknown")
                #expect(response.headers[.retryAfter] != nil)
            }
            try await eventually("the stalled batch to commit once the lock is gone") { try await api.orderCount(merchant) == 2 }
            // The retry's own batch has the same tight deadlines: on a loaded machine it may be a
            // 503 itself, which a client answers by retrying, as here.
            var retry = try await api.request(.post, "/v1/orders", as: merchant, body: Self.order, idempotencyKey: key, retryingUnavailable: false)
            let end = ContinuousClock.now + .seconds(20)
            while retry.status == .serviceUnavailable, ContinuousClock.now < end {
                retry = try await api.request(.post, "/v1/orders", as: merchant, body: Self.order, idempotencyKey: key, retryingUnavailable: false)
            }
            #expect(retry.status == .created, "\(retry.status) \(retry.problemCode ?? "")")
            #expect(retry.headers[IdempotencyKeyHeader.replayed] == "true")
            #expect(try await api.orderCount(merchant) == 2)
        }
    }

    @Test("Its database connections go silent three times (a vanished peer, a partition: nothing answered, nothing closed): orders are created again after each, and every 201 was committed")
    func silentDatabaseConnections() async throws {
        try await TestDatabase.with(migrated: true) { direct, url in
            let (proxy, through) = try await StallingProxy.start(before: url)
            try await APIHarness.run(environment: [
                "SETTLE_INGEST_COMMIT_DEADLINE_MS": "1000", "SETTLE_INGEST_OUTCOME_WAIT_MS": "1000", "SETTLE_INGEST_CLOSE_AFTER_MS": "1000",
            ], databaseURL: through) { api in
                let merchant = try await api.merchant()
                let created = OrderStream()
                // Each time, every connection the API has then stays open and answers nothing;
                // connections it makes later work. A batch on a silent connection that kept it
                // leased would have used up the pool (four connections in tests) by the last stall.
                for stall in 0...3 {
                    if stall > 0 { proxy.stall() }
                    try await eventually("an order to be created after stall \(stall)", within: .seconds(45)) {
                        let response = try await api.request(.post, "/v1/orders", as: merchant,
                                                             body: #"{"amount":700,"currency":"usd","payment_method":"pm_card_ok"}"#)
                        if response.status == .created, let id = try response.json()["id"] as? String {
                            created.append(id)
                            return true
                        }
                        #expect(response.status == .serviceUnavailable)
                        #expect(["database_unavailable", "outcome_unknown"].contains(response.problemCode))
                        return false
                    }
                }
                let ids = created.ids.compactMap(UUID.init(uuidString:))
                let rows = try await direct.query("SELECT count(*) FROM orders WHERE id = ANY(\(ids))", logger: APIHarness.logger)
                for try await count in rows.decode(Int.self) { #expect(count == 4) }
            }
            try await proxy.stop()
        }
    }

    @Test("Its database connections go silent four times while it serves reads: each read past the deadline is 503 database_unavailable, and reads are answered again after each stall")
    func silentDatabaseConnectionsOnReads() async throws {
        try await TestDatabase.with(migrated: true) { _, url in
            let (proxy, through) = try await StallingProxy.start(before: url)
            try await APIHarness.run(environment: ["SETTLE_API_STATEMENT_DEADLINE_MS": "1000"], databaseURL: through) { api in
                let merchant = try await api.merchant()
                let order = try await api.request(.post, "/v1/orders", as: merchant,
                                                  body: #"{"amount":700,"currency":"usd","payment_method":"pm_card_ok"}"#)
                #expect(order.status == .created)
                // Four reads at once, so the pool (four connections in tests) holds several when
                // they go silent: a read that kept its silent connection leased would have used
                // the pool up by the last stall, and every read after it would wait in vain.
                for stall in 0...4 {
                    if stall > 0 { proxy.stall() }
                    try await eventually("reads to be answered after stall \(stall)", within: .seconds(45)) {
                        let answers = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                            for index in 0..<4 {
                                // A list, and an order that is in no cache and no table: both need the database.
                                let uri = index.isMultiple(of: 2) ? "/v1/orders" : "/v1/orders/\(UUIDv7.make().lowercased)"
                                group.addTask { try await api.request(.get, uri, as: merchant, retryingUnavailable: false) }
                            }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                        var answered = true
                        for answer in answers where answer.status != .ok && answer.status != .notFound {
                            #expect(answer.status == .serviceUnavailable)
                            #expect(answer.problemCode == "database_unavailable")
                            answered = false
                        }
                        return answered
                    }
                }
            }
            try await proxy.stop()
        }
    }

    @Test("PostgreSQL stopped mid-test: 503 database_unavailable with Retry-After, then recovery; every 201 was committed")
    func databaseDown() async throws {
        let server = try await PrivatePostgres.start()
        do {
            try await APIHarness.run(databaseURL: server.url) { api in
                let merchant = try await api.merchant()
                let stream = OrderStream()
                // A stream of orders while the database goes away and comes back.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            while !stream.stopped {
                                let response = try await api.request(.post, "/v1/orders", as: merchant,
                                                                     body: #"{"amount":700,"currency":"usd","payment_method":"pm_card_ok"}"#)
                                if response.status == .created, let id = try response.json()["id"] as? String {
                                    stream.append(id)
                                } else {
                                    #expect(response.status == .serviceUnavailable)
                                    // outcome_unknown: the server went away while this request's batch was in flight.
                                    #expect(["database_unavailable", "outcome_unknown"].contains(response.problemCode))
                                    #expect(response.headers[.retryAfter] != nil)
                                }
                            }
                        }
                    }
                    try await eventually("some orders before the stop") { stream.count >= 20 }
                    try await server.stopServer()
                    APIHarness.logger.warning("test: database stopped")
                    let down = try await api.request(.post, "/v1/orders", as: merchant,
                                                     body: #"{"amount":700,"currency":"usd","payment_method":"pm_card_ok"}"#)
                    #expect(down.status == .serviceUnavailable)
                    #expect(down.problemCode == "database_unavailable")
                    let read = try await api.request(.get, "/v1/orders", as: merchant, retryingUnavailable: false)
                    #expect(read.status == .serviceUnavailable)
                    try await server.startServer()
                    APIHarness.logger.warning("test: database started")
                    let atRestart = stream.count
                    try await eventually("orders to be created again", within: .seconds(30)) { stream.count >= atRestart + 20 }
                    stream.stop()
                    try await group.waitForAll()
                }
                // No phantom 201: every acknowledged order is in the database.
                let ids = stream.ids.compactMap(UUID.init(uuidString:))
                let rows = try await api.database.query("SELECT count(*) FROM orders WHERE id = ANY(\(ids))", logger: APIHarness.logger)
                for try await count in rows.decode(Int.self) { #expect(count == ids.count) }
            }
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    @Test("Redis stopped mid-test: requests still succeed (rate limit fails open, cache misses), no 5xx")
    func redisDown() async throws {
        let redis = try PrivateRedisServer()
        try await APIHarness.run(redis: ("127.0.0.1", redis.port)) { api in
            let merchant = try await api.merchant()
            try await eventually("the private redis-server to answer") { (try? await api.redis.ping()) != nil }
            let id = try #require(try await api.createOrder(merchant)["id"] as? String)
            #expect(try await api.request(.get, "/v1/orders/\(id)", as: merchant).headers[HTTPField.Name("RateLimit-Limit")!] != nil)

            try await redis.stop()
            for _ in 0..<5 {
                let created = try await api.request(.post, "/v1/orders", as: merchant,
                                                    body: #"{"amount":700,"currency":"usd","payment_method":"pm_card_ok"}"#)
                #expect(created.status == .created)
                let read = try await api.request(.get, "/v1/orders/\(id)", as: merchant)
                #expect(read.status == .ok)
            }
            try redis.start()
            try await eventually("the rate limit to apply again") {
                try await api.request(.get, "/v1/orders", as: merchant).headers[HTTPField.Name("RateLimit-Limit")!] != nil
            }
        }
    }

    @Test("Group commit: one order that fails in the database does not fail its batch-mates")
    func badOrderInBatch() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let ingest = OrderIngest(writer: OrderBatchWriter(client: api.database, logger: APIHarness.logger),
                                     settings: .init(maxBatch: 50, maxWait: .milliseconds(200), concurrency: 1, commitDeadline: .seconds(10)),
                                     logger: APIHarness.logger)
            // All ten are queued before the flusher starts, so they form one batch: the batch
            // fails as a whole, and only the one-by-one retry can commit the nine good orders.
            let submissions = (0..<10).map { index in
                Task { () -> Bool in
                    // Order 5 breaks the amount check the API's validation would have caught.
                    let amount: Int64 = index == 5 ? 0 : 100
                    let order = Order(id: UUIDv7.make(), merchantID: merchant.id,
                                      new: NewOrder(amount: amount, currency: "usd", paymentMethod: .ok), createdAt: Date())
                    let pending = PendingOrder(order: order, eventID: UUIDv7.make(), idempotencyKey: nil, responseBody: SettleJSON.bytes(order))
                    return (try? await ingest.submit(pending)) != nil
                }
            }
            try await eventually("the ten orders to be queued") { ingest.queuedCount == 10 }
            let running = Task { try await ingest.run() }
            var results: [Bool] = []
            for submission in submissions { results.append(await submission.value) }
            running.cancel()
            try? await running.value
            #expect(results.filter { $0 }.count == 9)
            #expect(results[5] == false)
            #expect(try await api.orderCount(merchant) == 9)
        }
    }
}

/// Orders acknowledged by a stream of requests, and the switch that ends the stream.
final class OrderStream: Sendable {
    private let state = Mutex<(ids: [String], stopped: Bool)>(([], false))

    var ids: [String] { state.withLock { $0.ids } }
    var count: Int { state.withLock { $0.ids.count } }
    var stopped: Bool { state.withLock { $0.stopped } }

    func append(_ id: String) { state.withLock { $0.ids.append(id) } }
    func stop() { state.withLock { $0.stopped = true } }
}
