import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import ServiceLifecycle
import Synchronization

/// A merchant's webhook receiver written for the tests: a real HTTP server on loopback that
/// keeps every request it gets and answers as the test scripts it. Signatures are checked here
/// by the test's own reading of the Standard Webhooks scheme (HMAC-SHA256 over
/// `id.timestamp.body`, keyed by the base64 after `whsec_`), never by Settle's signer.
final class Receiver: Sendable {
    struct Request: Sendable {
        var path: String
        var webhookID: String?
        var timestamp: String?
        /// The `v1,…` entries of `webhook-signature`.
        var signatures: [String]
        var body: [UInt8]
        var receivedAt: Date

        /// The secrets (of those given) that one of the request's signatures proves, and
        /// whether the timestamp is within five minutes of arrival, as receivers are told to check.
        func verified(by secrets: [String]) -> [String] {
            guard let webhookID, let timestamp, let seconds = Double(timestamp),
                  abs(receivedAt.timeIntervalSince1970 - seconds) <= 300 else { return [] }
            let signed = Array("\(webhookID).\(timestamp).".utf8) + body
            return secrets.filter { secret in
                guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count))) else { return false }
                let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))).base64EncodedString()
                return signatures.contains(expected)
            }
        }

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
    }

    /// How to answer: the status and headers for the n-th request (1-based) with this `webhook-id`.
    typealias Script = @Sendable (_ path: String, _ nth: Int) -> (status: Int, headers: [String: String])

    private let state = Mutex<[Request]>([])
    private let script: Script
    let port: Int

    private init(port: Int, script: @escaping Script) {
        self.port = port
        self.script = script
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

    var requests: [Request] { state.withLock { $0 } }

    func requests(_ path: String) -> [Request] { requests.filter { $0.path == "/" + path } }

    /// Runs a receiver for the duration of `body`, on `port` or one the system picks.
    static func run(port: Int = 0, _ script: @escaping Script = { _, _ in (200, [:]) },
                    _ body: @Sendable (Receiver) async throws -> Void) async throws {
        let router = Router()
        let box = Mutex<Receiver?>(nil)
        router.post("{path}") { request, context -> Response in
            guard let receiver = box.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
            let headers = request.headers
            let received = Request(
                path: request.uri.path, webhookID: headers[HTTPField.Name("webhook-id")!],
                timestamp: headers[HTTPField.Name("webhook-timestamp")!],
                signatures: (headers[HTTPField.Name("webhook-signature")!] ?? "").split(separator: " ").map(String.init),
                body: bytes, receivedAt: Date())
            let nth = receiver.state.withLock { requests in
                requests.append(received)
                return requests.filter { $0.path == received.path && $0.webhookID == received.webhookID }.count
            }
            let (status, extra) = receiver.script(received.path, nth)
            var fields = HTTPFields()
            for (name, value) in extra { fields[HTTPField.Name(name)!] = value }
            return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: "answer \(status)")))
        }
        var logger = Logger(label: "test-receiver")
        logger.logLevel = .critical
        let (ports, portFound) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { channel in
                                  portFound.yield(channel.localAddress?.port ?? 0)
                                  portFound.finish()
                              },
                              logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                var iterator = ports.makeAsyncIterator()
                guard let bound = await iterator.next(), bound > 0 else { throw DispatcherFixture.Failure(description: "the receiver did not start") }
                let receiver = Receiver(port: bound, script: script)
                box.withLock { $0 = receiver }
                try await body(receiver)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
