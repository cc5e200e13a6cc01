import AsyncHTTPClient
import Foundation
import NIOCore
import SettleDomain
import SettleRuntime
import SettleStorage

/// Sends one delivery: checks where its URL leads (again, now: DNS may have changed since the
/// endpoint was created), signs it (Standard Webhooks) and POSTs it with the time-out, no
/// redirects, keeping the first 4 KiB of the answer.
///
/// A plain-http request goes to the address just checked (the URL's host stays in `Host`), so a
/// name that resolves elsewhere a moment later reaches nothing. An https request is verified
/// against the URL's host name, so a name moved to an internal address fails its TLS handshake
/// before any request is sent.
struct WebhookSender: Sendable {
    let http: HTTPClient
    let destination: WebhookDestination
    let timeout: Duration
    static let keptResponseBytes = 4_096

    func send(_ delivery: WebhookDeliveryStore.Claimed) async -> (WebhookRetryPolicy.Answer, WebhookDeliveryStore.Attempt) {
        let startedAt = Date()
        let clock = ContinuousClock()
        let start = clock.now
        func attempt(_ code: Int?, body: String? = nil, error: String? = nil) -> WebhookDeliveryStore.Attempt {
            WebhookDeliveryStore.Attempt(startedAt: startedAt, statusCode: code, latency: clock.now - start, responseBody: body, error: error)
        }
        let url: WebhookURL
        let addresses: [[UInt8]]
        do {
            url = try WebhookURL(delivery.url)
            addresses = try await destination.check(url)
        } catch let refused as WebhookDestinationRefused {
            return (.failed, attempt(nil, error: refused.message))
        } catch {
            return (.failed, attempt(nil, error: "\(error)"))
        }

        let id = delivery.eventID.uuidString.lowercased()
        let timestamp = Int64(startedAt.timeIntervalSince1970)
        var request = HTTPClientRequest(url: url.isHTTPS ? url.text : Self.pinned(url, to: addresses[0]))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Settle-Webhooks/1")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature",
                            value: WebhookSignature.header(id: id, timestamp: timestamp, body: delivery.body, secrets: delivery.secrets))
        if !url.isHTTPS {
            let host = url.host.contains(":") ? "[\(url.host)]" : url.host  // an IPv6 literal is bracketed
            request.headers.replaceOrAdd(name: "Host", value: url.port == 80 ? host : "\(host):\(url.port)")
        }
        request.body = .bytes(ByteBuffer(bytes: delivery.body))
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            var kept: [UInt8] = []
            var read = 0
            for try await chunk in response.body {
                read += chunk.readableBytes
                if kept.count < Self.keptResponseBytes { kept += chunk.readableBytesView.prefix(Self.keptResponseBytes - kept.count) }
                if read > 1 << 20 { break }  // the answer's status is what counts; a huge body is not read to its end
            }
            let code = Int(response.status.code)
            let text = String(decoding: kept, as: UTF8.self).replacingOccurrences(of: "\u{0}", with: "")
            return (.status(code, retryAfter: response.headers.first(name: "Retry-After")), attempt(code, body: text))
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            return (.timeout, attempt(nil, error: "no answer within \(timeout)"))
        } catch {
            return (.failed, attempt(nil, error: "\(error)"))
        }
    }

    /// The URL with its host replaced by `address` (the one checked).
    static func pinned(_ url: WebhookURL, to address: [UInt8]) -> String {
        guard var components = URLComponents(string: url.text) else { return url.text }
        let literal = IPNetwork.format(address)
        components.percentEncodedHost = address.count == 16 ? "[\(literal)]" : literal
        components.port = url.port
        return components.string ?? url.text
    }
}
