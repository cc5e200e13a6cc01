import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SettleDomain

/// The card-processor simulator's routes (DESIGN.md "The card-processor simulator"):
///
///     POST /charges              Idempotency-Key; {order_id, amount, currency, payment_method}
///     POST /refunds              Idempotency-Key; {order_id, amount, currency}
///     GET  /charges/{order_id}   {order_id, charges, refunds, calls}
///     GET  /faults, POST /faults {error_rate, latency_ms, crash_after_charge_rate, garbage_rate}
///
/// A request is counted as a call as soon as its order is known; faults apply next; then a
/// stored answer for the key is replayed; only then does the payment method decide. Final
/// answers (200, 402, poison) are stored with the money they moved in one transaction; 503s are
/// never stored, so a retry with the same key can still succeed.
struct ProcessorController: Sendable {
    let store: ProcessorStore
    let faults: ProcessorFaults
    let logger: Logger

    /// `pm_card_slow` answers this late: long enough to trip a tight client time-out.
    static let slowDelay = Duration.seconds(2)
    /// `pm_card_flaky` fails this many tries per order, then succeeds.
    static let flakyFailures = 2

    func addRoutes(to router: Router<ProcessorRequestContext>) {
        router.post("/charges") { request, context in try await charge(request, context: context) }
        router.post("/refunds") { request, context in try await refund(request, context: context) }
        router.get("/charges/:order_id") { _, context in
            let text = try context.parameters.require("order_id")
            guard let orderID = UUID(uuidString: text) else {
                throw ProcessorError.badRequest("parameter_invalid", "order_id must be a UUID, got \"\(text.prefix(40))\".")
            }
            return try await store.counts(orderID: orderID).answer.response()
        }
        router.get("/faults") { _, _ in Self.answer(faults.current).response() }
        router.post("/faults") { request, context in try await changeFaults(request, context: context) }
    }

    func charge(_ request: Request, context: ProcessorRequestContext) async throws -> Response {
        let body = try await ProcessorRequestBody.read(request, context: context)
        let orderID = try body.orderID()
        try await store.countCall(orderID: orderID)
        let key = try Self.idempotencyKey(request)
        let movement = ProcessorMovement(.charges, orderID: orderID, amount: try body.amount(), currency: try body.currency())
        let token = try body.string("payment_method")
        if let garbage = try await applyFaults() { return garbage }
        if let stored = try await store.storedAnswer(.charges, key: key) {
            return try replay(stored, orderID: orderID)
        }

        let answer: ProcessorAnswer
        var charged = true
        switch PaymentMethod(rawValue: token) {
        case .ok?:
            answer = movement.succeeded
        case .slow?:
            try await Task.sleep(for: Self.slowDelay)
            answer = movement.succeeded
        case .flaky?:
            let attempt = try await store.nextFlakyAttempt(orderID: orderID)
            guard attempt > Self.flakyFailures else {
                throw ProcessorError.unavailable("The card network timed out (pm_card_flaky, try \(attempt) of this order).")
            }
            answer = movement.succeeded
        case .poison?:
            answer = movement.poison
        case .down?:
            throw ProcessorError.unavailable("The card network is down (pm_card_down).")
        case .declined?:
            answer = .error(402, code: "card_declined", message: "The card was declined.")
            charged = false
        case .insufficientFunds?:
            answer = .error(402, code: "insufficient_funds", message: "The card has insufficient funds.")
            charged = false
        case nil:
            answer = .error(402, code: "invalid_payment_method", message: "Unknown payment method \"\(token.prefix(64))\".")
            charged = false
        }

        switch try await store.record(.charges, key: key, orderID: orderID, answer: answer, movement: charged ? movement : nil) {
        case .existing(let stored):
            return try replay(stored, orderID: orderID)
        case .recorded:
            if charged {
                logger.debug("charge taken", metadata: ["order_id": "\(orderID)", "charge_id": "\(movement.id)"])
                if ProcessorFaults.happens(faults.current.crashAfterChargeRate) {
                    logger.notice("crash_after_charge: dropping the connection after a committed charge",
                                metadata: ["order_id": "\(orderID)", "charge_id": "\(movement.id)"])
                    return await ProcessorCrash.dropConnection(context)
                }
            }
            return answer.response()
        }
    }

    func refund(_ request: Request, context: ProcessorRequestContext) async throws -> Response {
        let body = try await ProcessorRequestBody.read(request, context: context)
        let orderID = try body.orderID()
        try await store.countCall(orderID: orderID)
        let key = try Self.idempotencyKey(request)
        let movement = ProcessorMovement(.refunds, orderID: orderID, amount: try body.amount(), currency: try body.currency())
        if let garbage = try await applyFaults() { return garbage }
        if let stored = try await store.storedAnswer(.refunds, key: key) {
            return try replay(stored, orderID: orderID)
        }
        let answer = movement.succeeded
        switch try await store.record(.refunds, key: key, orderID: orderID, answer: answer, movement: movement) {
        case .existing(let stored):
            return try replay(stored, orderID: orderID)
        case .recorded:
            logger.debug("refund made", metadata: ["order_id": "\(orderID)", "refund_id": "\(movement.id)"])
            return answer.response()
        }
    }

    func changeFaults(_ request: Request, context: ProcessorRequestContext) async throws -> Response {
        let body = try await ProcessorRequestBody.read(request, context: context)
        let known: Set = ["error_rate", "latency_ms", "crash_after_charge_rate", "garbage_rate"]
        if let unknown = body.fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProcessorError.badRequest("parameter_unknown", "Unknown field \"\(unknown.prefix(64))\"; faults are error_rate, latency_ms, crash_after_charge_rate and garbage_rate.")
        }
        let errorRate = try Self.rate(body, "error_rate")
        let crashRate = try Self.rate(body, "crash_after_charge_rate")
        let garbageRate = try Self.rate(body, "garbage_rate")
        var latency: Int?
        switch body.fields["latency_ms"] {
        case nil, .null?:
            latency = nil
        case .integer(let value)? where ProcessorFaultSettings.latencyRange.contains(Int(value)):
            latency = Int(value)
        case let other?:
            throw ProcessorError.badRequest("parameter_invalid", "latency_ms must be an integer from 0 to 60000, got \(other.kind).")
        }
        let settings = faults.update { settings in
            if let errorRate { settings.errorRate = errorRate }
            if let latency { settings.latencyMilliseconds = latency }
            if let crashRate { settings.crashAfterChargeRate = crashRate }
            if let garbageRate { settings.garbageRate = garbageRate }
        }
        logger.notice("faults changed", metadata: [
            "error_rate": "\(settings.errorRate)", "latency_ms": "\(settings.latencyMilliseconds)",
            "crash_after_charge_rate": "\(settings.crashAfterChargeRate)", "garbage_rate": "\(settings.garbageRate)",
        ])
        return Self.answer(settings).response()
    }

    /// Added latency first (the request waits before anything is charged), then the injected
    /// error rate, then the garbage rate: an answer that is not JSON, returned here, with nothing
    /// charged or stored.
    private func applyFaults() async throws -> Response? {
        let current = faults.current
        if current.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(current.latencyMilliseconds))
        }
        if ProcessorFaults.happens(current.errorRate) {
            throw ProcessorError.unavailable("The processor is unavailable (injected error_rate).")
        }
        if ProcessorFaults.happens(current.garbageRate) {
            return ProcessorAnswer.json(200, "<html><body><h1>502 Bad Gateway</h1></body></html>").response()
        }
        return nil
    }

    /// The stored answer, byte for byte, unless the key was first used for another order.
    private func replay(_ stored: ProcessorStoredAnswer, orderID: UUID) throws -> Response {
        guard stored.orderID == orderID else { throw ProcessorError.keyReused }
        return stored.answer.response(replayed: true)
    }

    private static let keyHeader = HTTPField.Name("Idempotency-Key")!

    /// 1 to 255 characters, required on every money-moving request.
    private static func idempotencyKey(_ request: Request) throws -> String {
        guard let key = request.headers[keyHeader], !key.isEmpty else {
            throw ProcessorError.badRequest("idempotency_key_missing", "The Idempotency-Key header is required.")
        }
        guard key.count <= 255 else {
            throw ProcessorError.badRequest("idempotency_key_invalid", "Idempotency-Key must be 1 to 255 characters.")
        }
        return key
    }

    private static func rate(_ body: ProcessorRequestBody, _ name: String) throws -> Double? {
        let value: Double
        switch body.fields[name] {
        case nil, .null?: return nil
        case .integer(let integer)?: value = Double(integer)
        case .number(let number)?: value = number
        case let other?:
            throw ProcessorError.badRequest("parameter_invalid", "\(name) must be a number from 0 to 1, got \(other.kind).")
        }
        guard ProcessorFaultSettings.rateRange.contains(value) else {
            throw ProcessorError.badRequest("parameter_invalid", "\(name) must be a number from 0 to 1, got \(value).")
        }
        return value
    }

    private static func answer(_ settings: ProcessorFaultSettings) -> ProcessorAnswer {
        ProcessorAnswer(status: 200, body: SettleJSON.bytes(settings))
    }
}
