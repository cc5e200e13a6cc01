import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SettleDomain

/// `settle sink`'s routes:
///
///     GET  /healthz, /readyz
///     POST /hooks, /hooks/{name}   a webhook: verified (Standard Webhooks), deduplicated by webhook-id
///     GET  /deliveries             totals, the webhook-ids in order of arrival, the most answered at once,
///                                  and when the sink started (Unix seconds: it remembers nothing older)
///     GET  /deliveries?event_id=   how often one event arrived (webhook-id = event id)
///     GET  /arrivals               text, one line per webhook-id: the id, a tab, when it first
///                                  arrived in Unix microseconds (what benchmarks measure latency to)
///     PUT  /secrets                {"secrets": ["whsec_…"]}: what signatures are verified with
///                                  (with --secrets-from-database, also every endpoint's pointing here)
///     POST /fault                  {"status"?, "delay_ms"?, "retry_after"?, "seconds"}: misbehave for a while
///     DELETE /fault                behave again
struct SinkController: Sendable {
    let state: SinkState
    let logger: Logger

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/hooks") { request, context in try await receive(request, context: context) }
        router.post("/hooks/:name") { request, context in try await receive(request, context: context) }
        router.get("/deliveries") { request, _ in deliveries(request) }
        router.get("/arrivals") { _, _ in arrivals() }
        router.put("/secrets") { request, context in try await setSecrets(request, context: context) }
        router.post("/fault") { request, context in try await setFault(request, context: context) }
        router.delete("/fault") { _, _ in
            state.setFault(nil)
            return Self.json(.ok, ["fault": NSNull()])
        }
    }

    private func receive(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let body = Array(try await request.collectBody(upTo: 1 << 20).readableBytesView)
        let id = request.headers[HTTPField.Name("webhook-id")!] ?? ""
        let timestamp = request.headers[HTTPField.Name("webhook-timestamp")!].flatMap { Int64($0) }
        let signature = request.headers[HTTPField.Name("webhook-signature")!] ?? ""
        func verified() -> Bool {
            guard !id.isEmpty, let timestamp else { return false }
            return state.currentSecrets.contains { WebhookSignature.verify(id: id, timestamp: timestamp, body: body, header: signature, secret: $0) }
        }
        var valid = verified()
        if !valid, await state.reloadSecrets() { valid = verified() }
        guard valid else {
            state.rejected()
            logger.warning("webhook rejected: bad or missing signature", metadata: ["webhook_id": "\(id.prefix(64))"])
            return Self.json(.unauthorized, ["error": "signature_invalid"])
        }
        state.started()
        defer { state.finished() }
        if let fault = state.currentFault {
            if fault.delay > .zero { try await Task.sleep(for: fault.delay) }
            if let status = fault.status {
                state.faulted()
                var response = Self.json(HTTPResponse.Status(code: status), ["error": "fault"])
                if let retryAfter = fault.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
                return response
            }
        }
        let traceparent = request.headers[HTTPField.Name("traceparent")!]
        let first = state.received(id, traceparent: traceparent)
        logger.info("webhook received", metadata: ["webhook_id": "\(id)", "duplicate": "\(!first)", "traceparent": "\(traceparent ?? "")"])
        return Response(status: .noContent)
    }

    private func deliveries(_ request: Request) -> Response {
        let counts = state.snapshot
        if let eventID = request.uri.queryParameters["event_id"].map(String.init) {
            var answer: [String: Any] = ["event_id": eventID.lowercased(), "received": counts.deliveries[eventID.lowercased(), default: 0]]
            if let traceparent = counts.traceparents[eventID.lowercased()] { answer["traceparent"] = traceparent }
            return Self.json(.ok, answer)
        }
        return Self.json(.ok, [
            "events": counts.order.count, "received": counts.deliveries.values.reduce(0, +),
            "duplicates": counts.deliveries.values.reduce(0) { $0 + max(0, $1 - 1) }, "rejected": counts.rejected,
            "faulted": counts.faulted, "webhook_ids": counts.order, "max_in_flight": counts.maxInFlight,
            "started_at": state.startedAt.timeIntervalSince1970,
        ])
    }

    private func arrivals() -> Response {
        let counts = state.snapshot
        var text = ""
        text.reserveCapacity(counts.order.count * 56)
        for (id, at) in zip(counts.order, counts.firstArrivals) {
            text += "\(id)\t\(Int64((at.timeIntervalSince1970 * 1e6).rounded()))\n"
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func setSecrets(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1 << 16)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let secrets = object["secrets"] as? [String], secrets.allSatisfy({ WebhookSecret.key($0) != nil }) else {
            return Self.json(.badRequest, ["error": "send {\"secrets\": [\"whsec_…\"]}"])
        }
        state.setSecrets(secrets)
        return Self.json(.ok, ["secrets": secrets.count])
    }

    private func setFault(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1 << 16)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let seconds = object["seconds"] as? Int, seconds > 0 else {
            return Self.json(.badRequest, ["error": "send {\"seconds\": n, \"status\"?: 503, \"delay_ms\"?: 0, \"retry_after\"?: s}"])
        }
        let status = object["status"] as? Int
        if let status, !(200...599).contains(status) { return Self.json(.badRequest, ["error": "status must be 200 to 599"]) }
        state.setFault(SinkState.Fault(status: status, delay: .milliseconds(object["delay_ms"] as? Int ?? 0),
                                       retryAfter: object["retry_after"] as? Int, until: .now + .seconds(seconds)))
        return Self.json(.ok, ["fault": ["status": status as Any, "delay_ms": object["delay_ms"] ?? 0, "seconds": seconds]])
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
