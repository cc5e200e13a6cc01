import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import Synchronization

/// Sends the plan's orders and records every answer in a `LoadRecorder`.
struct LoadRunner: Sendable {
    let plan: LoadPlan
    let merchants: [(UUID, String)]
    let recorder: LoadRecorder
    /// Print the recorder's progress line (`settle chaos` prints its own).
    var showsProgress = true

    struct Request: Sendable {
        var index: Int
        var merchant: UUID
        var apiKey: String
        var key: String
        var body: String
        /// For a request repeating an earlier one's key: that request's index.
        var repeats: Int?
    }

    func request(_ index: Int, run: String) -> Request {
        if plan.keyReuse > 0, index > 0, Double.random(in: 0..<1) < plan.keyReuse {
            var earlier = request(Int.random(in: 0..<index), run: run)
            earlier.repeats = earlier.index
            earlier.index = index
            return earlier
        }
        let (merchant, apiKey) = merchants[index % merchants.count]
        let body = #"{"amount":\#(100 + index % 9_900),"currency":"usd","payment_method":"\#(plan.method(index))","description":"settle load"}"#
        return Request(index: index, merchant: merchant, apiKey: apiKey, key: "load-\(run)-\(index)", body: body, repeats: nil)
    }

    /// How long an answer is waited for.
    static let timeout: Duration = .seconds(30)

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: plan.connections ?? plan.maxInFlight)))
        let run = String(UUID().uuidString.prefix(8)).lowercased()
        let start = ContinuousClock.now
        let end = start + plan.duration
        let progress = Task { if showsProgress { await recorder.report(every: .seconds(1), from: start, until: end) } }
        if let rate = plan.rate {
            // Open model, as wrk2 does it: request i is due at start + i / rate whatever happened
            // to the others, and its latency counts from then. At most `maxInFlight` are on the
            // wire at once (one per lane, each lane a connection); a request due while every lane
            // is busy waits for one, and the wait counts. A queue inside the HTTP client instead
            // would grow without bound once the server falls behind, and the generator would
            // spend its CPU on the queue rather than on sending.
            let total = Int(plan.duration / .seconds(1) * rate)
            let counter = Counter()
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<plan.maxInFlight {
                    group.addTask {
                        while true {
                            let index = counter.next()
                            guard index < total else { return }
                            let due = start + .seconds(Double(index) / rate)
                            // Already later than an answer is waited for: timed out without being sent.
                            if ContinuousClock.now - due > Self.timeout {
                                recorder.record(status: LoadRecorder.timedOut, latency: ContinuousClock.now - due,
                                                second: Int((due - start) / .seconds(1)), request: request(index, run: run), orderID: nil)
                                continue
                            }
                            try? await Task.sleep(until: due, clock: .continuous)
                            await send(request(index, run: run), client: client, intended: due, start: start)
                        }
                    }
                }
            }
        } else {
            let counter = Counter()
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<(plan.connections ?? 1) {
                    group.addTask {
                        while ContinuousClock.now < end {
                            let index = counter.next()
                            await send(request(index, run: run), client: client, intended: .now, start: start)
                        }
                    }
                }
            }
        }
        progress.cancel()
        try await client.shutdown()
    }

    private func send(_ request: Request, client: HTTPClient, intended: ContinuousClock.Instant, start: ContinuousClock.Instant) async {
        var http = HTTPClientRequest(url: plan.api + "/v1/orders")
        http.method = .POST
        http.headers.add(name: "Authorization", value: "Bearer \(request.apiKey)")
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "Idempotency-Key", value: request.key)
        http.body = .bytes(ByteBuffer(string: request.body))
        var status = 0
        var orderID: String?
        do {
            let response = try await client.execute(http, timeout: .seconds(Self.timeout.components.seconds))
            status = Int(response.status.code)
            let body = try await response.body.collect(upTo: 1 << 16)
            if status == 201 {
                orderID = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])?["id"] as? String
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            status = LoadRecorder.timedOut
        } catch {
            status = LoadRecorder.connectionError
        }
        let now = ContinuousClock.now
        recorder.record(status: status, latency: now - intended, second: Int((intended - start) / .seconds(1)),
                        request: request, orderID: orderID)
    }
}

/// The next request's number, shared by a closed loop's connections.
private final class Counter: Sendable {
    private let value = Mutex(0)

    func next() -> Int { value.withLock { value in defer { value += 1 }; return value } }
}

/// Every answer of a load: latencies (µs) overall and per second of intended send time, answers
/// by status, the 201s (the history), and whether a repeated key got the same order.
final class LoadRecorder: Sendable {
    struct Second: Sendable {
        var ok = 0
        var errors = 0
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    }

    struct Accepted: Sendable {
        var merchant: UUID
        var key: String
        var orderID: String
    }

    struct Results: Sendable {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        /// By the second of each request's intended send time.
        var seconds: [Int: Second] = [:]
        /// 201s by the second their answer arrived: the throughput actually achieved.
        var acceptedBySecond: [Int: Int] = [:]
        var statuses: [Int: Int] = [:]
        var accepted: [Accepted] = []
        var ordersByKey: [String: Set<String>] = [:]
        var repeated = 0
    }

    /// Statuses of requests that got no HTTP answer: none within the 30 s time-out, or the connection failed.
    static let timedOut = -1
    static let connectionError = 0

    private let state = Mutex(Results())
    let history: URL

    /// When the recorder was made, just before the load starts: answers are counted by their second since.
    private let startedAt = ContinuousClock.now

    init(history: URL) {
        self.history = history
    }

    var results: Results { state.withLock { $0 } }
    var accepted: [Accepted] { state.withLock { $0.accepted } }

    func record(status: Int, latency: Duration, second: Int, request: LoadRunner.Request, orderID: String?) {
        let micros = UInt64(max(1, latency / .microseconds(1)))
        state.withLock { state in
            _ = state.histogram.record(micros)
            state.statuses[status, default: 0] += 1
            var bucket = state.seconds[second] ?? Second()
            if status == 201 { bucket.ok += 1 } else { bucket.errors += 1 }
            _ = bucket.histogram.record(micros)
            state.seconds[second] = bucket
            if status == 201 { state.acceptedBySecond[Int((ContinuousClock.now - startedAt) / .seconds(1)), default: 0] += 1 }
            if request.repeats != nil { state.repeated += 1 }
            if let orderID {
                state.ordersByKey[request.merchant.uuidString + " " + request.key, default: []].insert(orderID)
                if request.repeats == nil { state.accepted.append(Accepted(merchant: request.merchant, key: request.key, orderID: orderID)) }
            }
        }
    }

    /// A progress line every `interval`: rewritten in place on a terminal, a plain line every
    /// five otherwise.
    func report(every interval: Duration, from start: ContinuousClock.Instant, until end: ContinuousClock.Instant) async {
        let terminal = isatty(STDOUT_FILENO) == 1
        var tick = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            tick += 1
            let (count, errors, p99) = state.withLock { state in
                (state.histogram.totalCount, state.statuses.filter { $0.key != 201 }.values.reduce(0, +), state.histogram.valueAtPercentile(99))
            }
            let elapsed = (ContinuousClock.now - start) / .seconds(1)
            let line = String(format: "%5.1fs  %8.0f answers/s  %6d errors  p99 %8.1f ms", elapsed, Double(count) / max(elapsed, 0.001),
                              errors, Double(p99) / 1000)
            if terminal {
                FileHandle.standardOutput.write(Data(("\r" + line).utf8))
            } else if tick % 5 == 0 {
                print(line)
            }
            if ContinuousClock.now >= end { break }
        }
        if terminal { print("") }
    }
}
