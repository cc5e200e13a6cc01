import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleDomain

/// Calls the card processor (`settle processor` locally) with an idempotency key derived from the
/// order id, so a charge retried in process, from a retry topic, after a crash or after a replay
/// from the dead-letter topic is never taken twice (DESIGN.md contract clause 2).
struct ProcessorClient: Sendable {
    let http: HTTPClient
    let baseURL: URL
    let timeout: Duration

    enum Answer: Sendable, Equatable {
        /// Money was taken (or given back, for a refund); the processor's id for it.
        case approved(String)
        /// The card was declined, with the processor's reason (`card_declined`, `insufficient_funds`, …).
        case declined(String)
    }

    static func chargeKey(_ order: UUID) -> String { "settle-charge-\(order.lowercased)" }
    static func refundKey(_ order: UUID) -> String { "settle-refund-\(order.lowercased)" }

    func charge(_ order: Order) async throws(WorkerFailure) -> Answer {
        try await call("charges", key: Self.chargeKey(order.id), body: Request(order, paymentMethod: order.paymentMethod))
    }

    func refund(_ order: Order) async throws(WorkerFailure) -> Answer {
        try await call("refunds", key: Self.refundKey(order.id), body: Request(order, paymentMethod: nil))
    }

    private struct Request: Encodable {
        var orderID: String
        var amount: Int64
        var currency: String
        var paymentMethod: String?

        init(_ order: Order, paymentMethod: String?) {
            orderID = order.id.lowercased
            amount = order.amount
            currency = order.currency
            self.paymentMethod = paymentMethod
        }

        enum CodingKeys: String, CodingKey {
            case orderID = "order_id", amount, currency, paymentMethod = "payment_method"
        }
    }

    private struct Approval: Decodable {
        var id: String
        var status: String
    }

    private struct Refusal: Decodable {
        struct Detail: Decodable { var code: String }
        var error: Detail
    }

    private func call(_ path: String, key: String, body: Request) async throws(WorkerFailure) -> Answer {
        var request = HTTPClientRequest(url: baseURL.appendingPathComponent(path).absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: key)
        request.body = .bytes(ByteBuffer(bytes: SettleJSON.bytes(body)))

        let status: HTTPResponseStatus
        let bytes: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: TimeAmount(timeout))
            status = response.status
            bytes = try await response.body.collect(upTo: 1 << 16)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw .transient("processor_timeout", "the processor did not answer within \(timeout)")
        } catch {
            // Refused, reset, closed before answering: nothing known, so the same key is tried again.
            throw .transient("processor_unreachable", "the processor call failed: \(error)")
        }
        switch status.code {
        case 200..<300:
            guard let approval = try? JSONDecoder().decode(Approval.self, from: Data(bytes.readableBytesView)) else {
                throw .permanent("processor_invalid_response", "the processor answered \(status.code) with a body that is not a \(path.dropLast()) object")
            }
            return .approved(approval.id)
        case 402:
            let code = (try? JSONDecoder().decode(Refusal.self, from: Data(bytes.readableBytesView)))?.error.code ?? "card_declined"
            return .declined(code)
        case 408, 429, 500..<600:
            throw .transient("processor_unavailable", "the processor answered \(status.code)")
        default:
            let code = (try? JSONDecoder().decode(Refusal.self, from: Data(bytes.readableBytesView)))?.error.code ?? "unknown"
            throw .permanent("processor_rejected", "the processor answered \(status.code) (\(code))")
        }
    }
}
