import Foundation
import PostgresNIO
import SettleDomain
import SettleStorage
import SettleTestSupport
import Testing

/// `settle-dispatcher` against a real PostgreSQL, the development broker and `settle sink`
/// receivers on loopback, with a compressed retry schedule (0, 200 ms, 400 ms).
@Suite("Webhook dispatcher")
struct DispatcherTests {
    @Test("Each event reaches each enabled, subscribed endpoint once, signed; a repeated Kafka message adds nothing; others get nothing")
    func fanOutAndDeliver() async throws {
        try await DispatcherFixture.run { fixture in
            let sink = try await fixture.startSink()
            let succeeded = try await fixture.endpoint(sink.hooks("succeeded"), events: ["payment.succeeded"])
            let failed = try await fixture.endpoint(sink.hooks("failed"), events: ["payment.failed"])
            let disabled = try await fixture.endpoint(sink.hooks("disabled"))
            try await fixture.database.query("UPDATE webhook_endpoints SET enabled = false WHERE id = \(disabled.id)", logger: DispatcherFixture.logger)
            try await sink.setSecrets([succeeded.secret, failed.secret])
            // Each answer takes 300 ms while the dispatcher looks for due deliveries every 50 ms:
            // a delivery in flight must not be claimed and sent again.
            try await sink.fault(#"{"delay_ms":300,"seconds":600}"#)
            _ = try await fixture.startDispatcher()

            var events: [UUID] = []
            for index in 0..<6 {
                events.append(try await fixture.publishEvent(index % 3 == 0 ? .paymentFailed : .paymentSucceeded))
            }
            // Kafka may deliver a message twice: the delivery table keeps one row per event and endpoint.
            let order = UUID()
            let twice = try await fixture.publishEvent(.paymentSucceeded, order: order)
            try await fixture.republish(twice, order: order)
            events.append(twice)

            let sent = events

            try await eventually("every event to arrive") {
                for event in sent where try await sink.received(event) < 1 { return false }
                return true
            }
            // The receiver counts a webhook before the dispatcher has recorded its answer.
            try await eventually("every delivery to be recorded") {
                let succeededCounts = try await fixture.deliveries(succeeded.id)
                let failedCounts = try await fixture.deliveries(failed.id)
                return succeededCounts == ["succeeded": 5] && failedCounts == ["succeeded": 2]
            }
            #expect(try await fixture.deliveries(disabled.id).isEmpty)
            for event in events { #expect(try await sink.received(event) == 1, "\(event)") }
            let totals = try await sink.totals()
            #expect(totals["rejected"] as? Int == 0, "every signature verified")
            #expect(totals["duplicates"] as? Int == 0)
        }
    }

    @Test("An endpoint made after an event never gets it, however often the event arrives again (a replay, a restore); later events it does")
    func noEventsFromBeforeAnEndpoint() async throws {
        try await DispatcherFixture.run { fixture in
            let store = WebhookDeliveryStore(client: fixture.database, logger: DispatcherFixture.logger)
            let order = UUID()
            let old = try await fixture.publishEvent(.paymentSucceeded, order: order)
            let endpoint = try await fixture.endpoint("http://127.0.0.1:9/hooks/late")
            #expect(try await store.fanOut(eventID: old) == 0)
            let new = try await fixture.publishEvent(.paymentRefunded, order: order)
            #expect(try await store.fanOut(eventID: new) == 1)
            #expect(try await store.fanOut(eventID: old) == 0)
            #expect(try await fixture.deliveries(endpoint.id) == ["pending": 1])
        }
    }

    @Test("A failing endpoint is tried on the schedule, then the delivery is dead, with every attempt kept and a message for payments.v1.dlq")
    func deadAfterLastAttempt() async throws {
        try await DispatcherFixture.run { fixture in
            let sink = try await fixture.startSink()
            let endpoint = try await fixture.endpoint(sink.hooks("down"))
            try await sink.setSecrets([endpoint.secret])
            try await sink.fault(#"{"status":500,"seconds":600}"#)
            _ = try await fixture.startDispatcher()
            let event = try await fixture.publishEvent()

            try await eventually("the delivery to be dead") { try await fixture.deliveries(endpoint.id) == ["dead": 1] }
            #expect(try await fixture.scalar("SELECT count(*)::int FROM webhook_attempts WHERE status_code = 500") == 3)
            #expect(try await fixture.scalar("SELECT attempts FROM webhook_deliveries WHERE endpoint_id = \(endpoint.id)") == 3)
            #expect(try await fixture.scalar("""
                SELECT count(*)::int FROM outbox WHERE topic = 'payments.v1.dlq' AND payload::jsonb->>'id' = \(event.uuidString.lowercased())
                  AND headers::jsonb->>'dlq-error-class' = 'webhook_attempts_exhausted' AND headers::jsonb->>'dlq-attempts' = '3'
                """) == 1)
            // Five failures in a row open the endpoint's circuit: with three attempts it is not open yet.
            #expect(try await fixture.scalar("SELECT consecutive_failures FROM webhook_endpoints WHERE id = \(endpoint.id)") == 3)

            // Once the receiver is fixed, a retry asked for (POST /v1/webhook-deliveries/{id}/retry) delivers it.
            try await sink.clearFault()
            var delivery: UUID?
            for try await id in try await fixture.database.query("SELECT id FROM webhook_deliveries WHERE endpoint_id = \(endpoint.id)",
                                                                 logger: DispatcherFixture.logger).decode(UUID.self) { delivery = id }
            let outcome = try await WebhookDeliveryStore(client: fixture.database, logger: DispatcherFixture.logger)
                .retry(try #require(delivery), merchant: fixture.merchant, claim: nil) { _ in (0, []) }
            guard case .scheduled = outcome else { Issue.record("retry: \(outcome)"); return }
            try await eventually("the retried delivery to succeed") { try await fixture.deliveries(endpoint.id) == ["succeeded": 1] }
            #expect(try await sink.received(event) == 1)
            #expect(try await fixture.scalar("SELECT consecutive_failures FROM webhook_endpoints WHERE id = \(endpoint.id)") == 0)
        }
    }

    @Test("The webhook SLO's histogram counts a delivered event, and an endpoint whose circuit opened shows in settle_webhook_circuits_open")
    func sloMetrics() async throws {
        try await DispatcherFixture.run { fixture in
            let good = try await fixture.receiver("good").endpoint
            let (failing, _) = try await fixture.receiver("bad")
            try await failing.fault(#"{"status":500,"seconds":600}"#)
            let port = try FreePort.make()
            _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_CIRCUIT_FAILURES": "2", "SETTLE_WEBHOOK_CIRCUIT_OPEN_MS": "600000"],
                                                  port: port)
            let dispatcher = ServiceEndpoint(port: port)
            #expect(try await dispatcher.metric("settle_webhook_circuits_open") == 0)
            _ = try await fixture.publishEvent()
            try await eventually("the healthy endpoint's delivery to succeed") { try await fixture.deliveries(good.id) == ["succeeded": 1] }
            #expect(try await dispatcher.metric("settle_webhook_delivery_seconds_count") == 1)
            #expect(try await dispatcher.metric("settle_webhook_delivery_seconds_bucket", labels: #"le="60.0""#) == 1)
            try await eventually("the failing endpoint's circuit to show as open", within: .seconds(30)) {
                try await dispatcher.metric("settle_webhook_circuits_open") == 1
            }
        }
    }

    @Test("With a poll of ten minutes, twenty events to an endpoint taking one at a time all arrive: a fan-out and a finished delivery wake the sender")
    func wokenNotPolled() async throws {
        try await DispatcherFixture.run { fixture in
            let sink = try await fixture.startSink()
            let endpoint = try await fixture.endpoint(sink.hooks("one-at-a-time"))
            try await sink.setSecrets([endpoint.secret])
            // The first claim happens at start, before any event; every later one must be rung for.
            _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_POLL_MS": "600000", "SETTLE_WEBHOOK_ENDPOINT_CONCURRENCY": "1"])
            var events: [UUID] = []
            for _ in 0..<20 { events.append(try await fixture.publishEvent()) }
            try await eventually("every event to arrive") { try await fixture.deliveries(endpoint.id) == ["succeeded": 20] }
            for event in events { #expect(try await sink.received(event) == 1) }
        }
    }

    @Test("410 Gone disables the endpoint at once: the delivery is dead and nothing more is sent to it")
    func goneDisables() async throws {
        try await DispatcherFixture.run { fixture in
            let sink = try await fixture.startSink()
            let endpoint = try await fixture.endpoint(sink.hooks("gone"))
            try await sink.setSecrets([endpoint.secret])
            try await sink.fault(#"{"status":410,"seconds":600}"#)
            _ = try await fixture.startDispatcher()
            try await fixture.publishEvent()
            try await eventually("the endpoint to be disabled") {
                try await fixture.scalar("""
                    SELECT count(*)::int FROM webhook_endpoints WHERE id = \(endpoint.id) AND NOT enabled AND disabled_reason = 'gone'
                    """) == 1
            }
            #expect(try await fixture.deliveries(endpoint.id) == ["dead": 1])
            #expect(try await fixture.scalar("SELECT count(*)::int FROM webhook_attempts") == 1)
            #expect(try await fixture.scalar("""
                SELECT count(*)::int FROM events
                WHERE type = 'webhook_endpoint.disabled' AND data->'object'->>'id' = \(endpoint.id.lowercased)
                  AND data->'object'->>'disabled_reason' = 'gone'
                """) == 1, "the merchant is told, in an event")
        }
    }

    @Test("PostgreSQL stopped under the dispatcher while events arrive, then started: every event is delivered, and the dispatcher needed no one")
    func databaseRestart() async throws {
        let server = try await PrivatePostgres.start()
        do {
            try await DispatcherFixture.run(server: server.url) { fixture in
                let sink = try await fixture.startSink()
                let endpoint = try await fixture.endpoint(sink.hooks("restart"))
                try await sink.setSecrets([endpoint.secret])
                let operations = ServiceEndpoint(port: try FreePort.make())
                // Its warnings say what it met if the events do not arrive.
                let dispatcher = try await fixture.startDispatcher(["SETTLE_LOG_LEVEL": "warning"], port: operations.port)
                var events: [UUID] = []
                for _ in 0..<5 { events.append(try await fixture.publishEvent()) }
                try await sink.awaitAll(events, "the first events to arrive", within: .seconds(30), dispatcher: dispatcher)
                // Recorded now, published while the database is down: the fan-out must wait for it, not skip them.
                var recorded: [(UUID, UUID)] = []
                for _ in 0..<5 {
                    let (id, order) = (UUIDv7.make(), UUID())
                    try await fixture.database.query("""
                        INSERT INTO events (id, merchant_id, order_id, type, data)
                        VALUES (\(id), \(fixture.merchant), \(order), 'payment.succeeded', '{"n":1}')
                        """, logger: DispatcherFixture.logger)
                    recorded.append((id, order))
                }
                try await server.stopServer()
                for (id, order) in recorded { try await fixture.republish(id, order: order) }
                try await eventually("the dispatcher to read them while the database is down") {
                    try await operations.metric("settle_dispatcher_messages_total") >= 6  // it handles one at a time
                }
                try await server.startServer()
                events += recorded.map(\.0)
                for _ in 0..<5 { events.append(try await fixture.publishEvent()) }
                // postgres-nio's pool retries a lost server with a backoff that grows towards a
                // minute, so a long outage on a loaded machine may take that long to be noticed over.
                try await sink.awaitAll(events, "every event to arrive", within: .seconds(120), dispatcher: dispatcher)
                try await eventually("every delivery to be recorded") { try await fixture.deliveries(endpoint.id) == ["succeeded": 15] }
                #expect(dispatcher.isRunning, "the dispatcher rode out the restart")
            }
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    @Test("Its database connections go silent (a vanished peer, a partition: nothing answered, nothing closed): each stalled statement fails at its deadline, and every later event is still fanned out and delivered")
    func silentDatabaseConnections() async throws {
        try await DispatcherFixture.run { fixture in
            let (proxy, through) = try await StallingProxy.start(before: fixture.databaseURL)
            let sink = try await fixture.startSink()
            let endpoint = try await fixture.endpoint(sink.hooks("silent"))
            try await sink.setSecrets([endpoint.secret])
            let dispatcher = try await fixture.startDispatcher([
                "DATABASE_URL": through.absoluteString, "SETTLE_WEBHOOK_STATEMENT_DEADLINE_MS": "1000",
                "SETTLE_LOG_LEVEL": "warning",
            ])
            var events: [UUID] = []
            for _ in 0..<5 { events.append(try await fixture.publishEvent()) }
            try await sink.awaitAll(events, "the first events to arrive", within: .seconds(30), dispatcher: dispatcher)
            // Each time, every connection the dispatcher has then stays open and answers nothing, the
            // sender's claim among them (it asks every 50 ms); connections it makes later work.
            // Three stalls: a deadline that left its silent connection leased would have used up
            // the pool (four connections in tests) by the last.
            for stall in 1...3 {
                proxy.stall()
                for _ in 0..<4 { events.append(try await fixture.publishEvent()) }
                try await sink.awaitAll(events, "every event to arrive after stall \(stall)", within: .seconds(45), dispatcher: dispatcher)
            }
            try await eventually("every delivery to be recorded") { try await fixture.deliveries(endpoint.id) == ["succeeded": 17] }
            try await proxy.stop()
        }
    }

    @Test("A backlog of 1,100 due deliveries to a half-open, hanging endpoint does not hide a healthy endpoint's newer delivery")
    func backlogDoesNotHideHealthy() async throws {
        try await DispatcherFixture.run { fixture in
            let hangingSink = try await fixture.startSink()
            let healthySink = try await fixture.startSink()
            let hanging = try await fixture.endpoint(hangingSink.hooks("backlog"), events: ["payment.failed"])
            let healthy = try await fixture.endpoint(healthySink.hooks("fresh"), events: ["payment.succeeded"])
            try await hangingSink.setSecrets([hanging.secret])
            try await healthySink.setSecrets([healthy.secret])
            try await hangingSink.fault(#"{"delay_ms":120000,"seconds":600}"#)
            // Older than anything the healthy endpoint will get, and due; its circuit has just closed again
            // (five failures in a row), so one delivery at a time may go to it.
            try await fixture.database.query("""
                WITH backlog AS (
                    INSERT INTO events (id, merchant_id, type, data)
                    SELECT settle_uuid_v7(), \(fixture.merchant), 'payment.failed', '{}' FROM generate_series(1, 1100)
                    RETURNING id
                )
                INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at)
                SELECT gen_random_uuid(), id, \(hanging.id), 'pending', now() - interval '1 minute' FROM backlog
                """, logger: DispatcherFixture.logger)
            try await fixture.database.query("""
                UPDATE webhook_endpoints SET consecutive_failures = 5, failing_since = now(), circuit_open_until = now() - interval '1 second'
                WHERE id = \(hanging.id)
                """, logger: DispatcherFixture.logger)
            // The hanging receiver is given two minutes: a claim that saw only its backlog would wait that long.
            _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_TIMEOUT_MS": "120000"])
            let event = try await fixture.publishEvent()
            try await eventually("the healthy endpoint's delivery to arrive") { try await healthySink.received(event) == 1 }
            #expect(try await fixture.scalar("""
                SELECT count(*)::int FROM webhook_deliveries WHERE endpoint_id = \(hanging.id) AND lease_until > now()
                """) == 1, "the half-open endpoint gets one delivery at a time")
        }
    }

    @Test("A hanging endpoint holds at most its own slots: a healthy endpoint's deliveries all arrive before any hanging one is answered")
    func hangingEndpointIsolated() async throws {
        try await DispatcherFixture.run { fixture in
            let (hangingSink, hanging) = try await fixture.receiver("slow")
            let (healthySink, healthy) = try await fixture.receiver("fast")
            // The hanging receiver answers after 20 s, far past the 2 s time-out.
            try await hangingSink.fault(#"{"delay_ms":20000,"seconds":600}"#)
            var events: [UUID] = []
            for _ in 0..<20 { events.append(try await fixture.publishEvent()) }
            // Both endpoints' deliveries are due before the dispatcher starts; the hanging one's were written first.
            try await fixture.database.query("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 hour' WHERE endpoint_id = \(hanging.id)",
                                             logger: DispatcherFixture.logger)
            _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_CONCURRENCY": "4", "SETTLE_WEBHOOK_ENDPOINT_CONCURRENCY": "2"])
            let sent = events
            try await eventually("the healthy endpoint to receive every event", within: .seconds(60)) {
                for event in sent where try await healthySink.received(event) < 1 { return false }
                return true
            }
            // Had the hanging endpoint taken every slot, its first requests would have been answered by now.
            #expect(try await hangingSink.totals()["events"] as? Int == 0)
            try await eventually("the healthy deliveries to be recorded") { try await fixture.deliveries(healthy.id) == ["succeeded": 20] }
        }
    }

    @Test("A FIFO endpoint gets its events one at a time, in the order they were recorded, retries included")
    func fifo() async throws {
        try await DispatcherFixture.run { fixture in
            let sink = try await fixture.startSink()
            let endpoint = try await fixture.endpoint(sink.hooks("fifo"), fifo: true)
            try await sink.setSecrets([endpoint.secret])
            // The receiver fails until a few attempts have failed: the first delivery is retried while later ones are due.
            try await sink.fault(#"{"status":503,"seconds":600}"#)
            _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_SCHEDULE_MS": "0,100,200,200,200,200,200,200,200,200,200,200",
                                                   "SETTLE_WEBHOOK_ENDPOINT_CONCURRENCY": "4"])
            // One order's events: one partition, so the dispatcher records them in this order.
            let order = UUID()
            var events: [UUID] = []
            for _ in 0..<10 { events.append(try await fixture.publishEvent(order: order)) }
            try await eventually("three attempts to have failed") { try await sink.totals()["faulted"] as? Int ?? 0 >= 3 }
            try await sink.clearFault()
            let sent = events
            try await eventually("every event to arrive", within: .seconds(60)) {
                for event in sent where try await sink.received(event) < 1 { return false }
                return true
            }
            let totals = try await sink.totals()
            #expect(totals["webhook_ids"] as? [String] == events.map { $0.uuidString.lowercased() })
            #expect(totals["max_in_flight"] as? Int == 1)
        }
    }

    @Test("A dispatcher SIGKILLed with deliveries in flight: after their lease the next one sends them; every event arrives")
    func killedMidDelivery() async throws {
        try await DispatcherFixture.run { fixture in
            let sink = try await fixture.startSink()
            let endpoint = try await fixture.endpoint(sink.hooks("kill"))
            try await sink.setSecrets([endpoint.secret])
            // Every answer takes 1.5 s for as long as the test may need (a loaded machine starts
            // a dispatcher slowly), so deliveries are surely in flight when it is killed.
            try await sink.fault(#"{"delay_ms":1500,"seconds":120}"#)
            let settings = ["SETTLE_WEBHOOK_LEASE_MS": "4000", "SETTLE_WEBHOOK_TIMEOUT_MS": "3000"]
            let first = try await fixture.startDispatcher(settings)
            var events: [UUID] = []
            for _ in 0..<10 { events.append(try await fixture.publishEvent()) }
            try await eventually("deliveries to be in flight") {
                try await fixture.scalar("SELECT count(*)::int FROM webhook_deliveries WHERE lease_until > now()") > 0
            }
            first.kill(SIGKILL)
            _ = try await fixture.startDispatcher(settings)
            let sent = events
            try await eventually("every event to arrive", within: .seconds(60)) {
                for event in sent where try await sink.received(event) < 1 { return false }
                return true
            }
            try await eventually("every delivery to be recorded") { try await fixture.deliveries(endpoint.id) == ["succeeded": 10] }
        }
    }
}
