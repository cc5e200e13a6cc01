import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleRuntime
import SettleStorage

/// `settle demo`: on the running local stack, one order of each kind through the whole system,
/// as the demo merchant `settle up` made: created (and replayed by its Idempotency-Key),
/// succeeded, declined, flaky then succeeded, dead-lettered and replayed, refunded, and a
/// webhook delivered and verified. Each step prints what happened, with ids, and the curl that
/// does it by hand; the command exits non-zero if any step did not happen.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Walk through Settle on the running local stack, one order of each kind; exits non-zero if any step did not happen."
    )

    @Option(help: "Seconds each step may take.")
    var timeout = 60

    func validate() throws {
        guard (1...3_600).contains(timeout) else { throw ValidationError("--timeout must be 1 to 3600 seconds") }
    }

    func run() async throws {
        let environment = StackEnvironment.load()
        let layout = try StackLayout(environment: environment)
        guard let api = environment["SETTLE_API_URL"], let processor = environment["SETTLE_PROCESSOR_URL"],
              let sink = environment["SETTLE_SINK_URL"], let account = DemoAccount.load(layout.demoEnv) else {
            throw ValidationError("no local stack with a demo merchant here: run `settle up` first")
        }
        let demo = DemoRun(api: api, processor: processor, sink: sink, key: account.apiKey, environment: environment,
                           patience: .seconds(timeout))
        print("""
            Settle demo on the local stack, as the demo merchant \(account.merchant.lowercased) ("Demo shop").
            To run the curl lines yourself: source \(layout.stackEnv.path) \(layout.demoEnv.path)

            """)
        let failed = await demo.run()
        if failed > 0 {
            print("\n\(failed) step\(failed == 1 ? "" : "s") did not happen; the services' logs are in \(layout.logs.path)/")
            throw ExitCode(1)
        }
        print("\nEvery step happened: nothing lost, nothing charged twice.")
    }
}

/// One walk through the demo's steps.
struct DemoRun: Sendable {
    let api: String
    let processor: String
    let sink: String
    let key: String
    let environment: [String: String]
    let patience: Duration

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    typealias Object = [String: Any]

    /// Runs every step, even after one fails; returns how many failed.
    func run() async -> Int {
        var failed = 0
        var step = 0
        func record(_ title: String, _ body: () async throws -> Void) async {
            step += 1
            print("\(step). \(title)")
            do {
                try await body()
            } catch {
                failed += 1
                print("   ✗ \(error)")
            }
        }
        var succeeded: String?
        await record("An order is created, and its Idempotency-Key makes a retry harmless") {
            succeeded = try await created()
        }
        await record("The relays publish it, a worker charges it: succeeded, charged once") {
            guard let succeeded else { throw Failure(description: "no order from the step before") }
            try await settles(succeeded, as: "succeeded")
        }
        await record("A declined card: failed, with its failure code") {
            let id = try await createOrder("pm_card_declined")
            try await settles(id, as: "failed")
        }
        await record("A flaky processor (503 twice): retried in the worker, then succeeded, charged once") {
            let id = try await createOrder("pm_card_flaky")
            try await settles(id, as: "succeeded")
            let counts = try await charges(id)
            guard (counts["calls"] as? Int ?? 0) >= 3 else { throw Failure(description: "the processor saw \(counts), not three calls") }
            print("   ✓ the processor saw \(counts["calls"] ?? "?") calls and charged \(counts["charges"] ?? "?") time")
        }
        await record("A broken processor answer: dead-lettered at once; replayed once it is fixed, then succeeded") {
            try await deadLetteredAndReplayed()
        }
        await record("A refund: refund_pending, then refunded at the processor") {
            guard let succeeded else { throw Failure(description: "no succeeded order to refund") }
            try await refunded(succeeded)
        }
        await record("A signed webhook: payment.succeeded delivered to the stack's sink, which verified its signature") {
            guard let succeeded else { throw Failure(description: "no succeeded order") }
            try await webhookDelivered(succeeded)
        }
        return failed
    }

    // MARK: the steps

    private func created() async throws -> String {
        let idempotencyKey = "demo-" + UUID().uuidString.lowercased()
        let body = #"{"amount":1299,"currency":"usd","payment_method":"pm_card_ok","description":"Settle demo"}"#
        let first = try await call(.POST, api + "/v1/orders", body: body, idempotencyKey: idempotencyKey)
        guard first.status == 201, let id = first.object["id"] as? String else { throw Failure(description: "POST /v1/orders answered \(first)") }
        print("   ✓ 201 order \(id), status \(first.object["status"] ?? "?")")
        print("     curl -X POST \"$SETTLE_API_URL/v1/orders\" -H \"Authorization: Bearer $SETTLE_DEMO_API_KEY\" \\")
        print("       -H \"Idempotency-Key: \(idempotencyKey)\" -H \"Content-Type: application/json\" -d '\(body)'")
        let again = try await call(.POST, api + "/v1/orders", body: body, idempotencyKey: idempotencyKey)
        guard again.status == 201, again.object["id"] as? String == id, again.replayed else {
            throw Failure(description: "the same Idempotency-Key answered \(again)")
        }
        print("   ✓ the same request again: the same order, Idempotent-Replayed: true")
        return id
    }

    private func createOrder(_ method: String) async throws -> String {
        let body = #"{"amount":1299,"currency":"usd","payment_method":"\#(method)","description":"Settle demo"}"#
        let answer = try await call(.POST, api + "/v1/orders", body: body, idempotencyKey: "demo-" + UUID().uuidString.lowercased())
        guard answer.status == 201, let id = answer.object["id"] as? String else { throw Failure(description: "POST /v1/orders answered \(answer)") }
        print("   ✓ 201 order \(id) (\(method))")
        return id
    }

    /// Waits for the order's status; prints it with its failure code and the processor's counts.
    private func settles(_ id: String, as expected: String) async throws {
        let order = try await until("order \(id) to be \(expected)") {
            let answer = try await call(.GET, api + "/v1/orders/\(id)")
            return answer.object["status"] as? String == expected ? answer.object : nil
        }
        let counts = try await charges(id)
        let code = (order["failure_code"] as? String).map { ", failure_code \($0)" } ?? ""
        print("   ✓ order \(id): \(expected)\(code); the processor charged it \(counts["charges"] ?? "?") time(s)")
        print("     curl \"$SETTLE_API_URL/v1/orders/\(id)\" -H \"Authorization: Bearer $SETTLE_DEMO_API_KEY\"")
        if expected == "succeeded", counts["charges"] as? Int != 1 { throw Failure(description: "charged \(counts["charges"] ?? "?") times") }
    }

    private func deadLetteredAndReplayed() async throws {
        // Every charge answers 200 with a body that is not JSON while the fault is on; nothing is charged.
        _ = try await call(.POST, processor + "/faults", body: #"{"garbage_rate":1}"#)
        print("     curl -X POST \"$SETTLE_PROCESSOR_URL/faults\" -H 'Content-Type: application/json' -d '{\"garbage_rate\":1}'")
        let id: String
        do {
            id = try await createOrder("pm_card_ok")
            let letter = try await until("order \(id) to be dead-lettered") { () -> DeadLetter? in
                try await CLIDatabase.with(environment: environment, name: "settle-demo") { client, logger in
                    try await DeadLetterStore(client: client, logger: logger).open(id: id).first
                }
            }
            print("   ✓ dead-lettered on \(letter.topic): \(letter.errorClass); the order stays pending (settle dlq list shows it)")
        } catch {
            _ = try? await call(.POST, processor + "/faults", body: #"{"garbage_rate":0}"#)
            throw error
        }
        _ = try await call(.POST, processor + "/faults", body: #"{"garbage_rate":0}"#)
        print("   ✓ the processor is fixed (garbage_rate 0)")
        for line in try await DLQReplayCommand.replay(id: id, topic: nil, maxDeadLetters: 3, environment: environment) {
            print("   ✓ settle dlq replay --id \(id): \(line)")
        }
        try await settles(id, as: "succeeded")
    }

    private func refunded(_ id: String) async throws {
        let answer = try await call(.POST, api + "/v1/orders/\(id)/refund", idempotencyKey: "demo-refund-\(id)")
        guard answer.status == 200 else { throw Failure(description: "POST /v1/orders/\(id)/refund answered \(answer)") }
        print("   ✓ 200 order \(id), status \(answer.object["status"] ?? "?")")
        print("     curl -X POST \"$SETTLE_API_URL/v1/orders/\(id)/refund\" -H \"Authorization: Bearer $SETTLE_DEMO_API_KEY\" -H \"Idempotency-Key: demo-refund-\(id)\"")
        try await settles(id, as: "refunded")
        let counts = try await charges(id)
        guard counts["refunds"] as? Int == 1 else { throw Failure(description: "the processor refunded \(counts["refunds"] ?? "?") times") }
    }

    private func webhookDelivered(_ id: String) async throws {
        let event = try await until("the payment.succeeded event of \(id)") { () -> String? in
            let events = try await call(.GET, api + "/v1/events?type=payment.succeeded&limit=100")
            let list = events.object["data"] as? [Object] ?? []
            return list.first { $0["order_id"] as? String == id }?["id"] as? String
        }
        print("   ✓ event \(event) (GET /v1/events?type=payment.succeeded)")
        let received = try await until("the sink to receive event \(event) with a valid signature") { () -> Int? in
            let answer = try await call(.GET, sink + "/deliveries?event_id=\(event)", authorized: false)
            let count = answer.object["received"] as? Int ?? 0
            return count >= 1 ? count : nil
        }
        print("   ✓ the sink received it \(received) time(s), signature verified (Standard Webhooks, the endpoint's secret)")
        print("     curl \"$SETTLE_SINK_URL/deliveries?event_id=\(event)\"")
        print("     curl \"$SETTLE_API_URL/v1/webhook-endpoints/$SETTLE_DEMO_ENDPOINT_ID/deliveries\" -H \"Authorization: Bearer $SETTLE_DEMO_API_KEY\"")
    }

    // MARK: plumbing

    private func charges(_ id: String) async throws -> Object {
        try await call(.GET, processor + "/charges/\(id)", authorized: false).object
    }

    /// Polls `probe` every 100 ms until it gives a value or the step's patience runs out.
    private func until<Value>(_ what: String, _ probe: () async throws -> Value?) async throws -> Value {
        let end = ContinuousClock.now + patience
        var lastError: (any Error)?
        while ContinuousClock.now < end {
            do {
                if let value = try await probe() { return value }
            } catch {
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "gave up waiting for \(what) after \(patience)" + (lastError.map { " (last error: \($0))" } ?? ""))
    }

    struct Answer: CustomStringConvertible {
        var status: Int
        var body: String
        var replayed: Bool

        var object: Object { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? Object) ?? [:] }
        var description: String { "\(status) \(body.prefix(300))" }
    }

    private func call(_ method: HTTPMethod, _ url: String, body: String? = nil, idempotencyKey: String? = nil,
                      authorized: Bool = true) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if authorized, url.hasPrefix(api) { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return Answer(status: Int(response.status.code), body: text, replayed: response.headers.first(name: "Idempotent-Replayed") == "true")
    }
}
