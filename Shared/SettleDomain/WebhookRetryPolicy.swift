import Foundation

/// What happens after a webhook attempt (DESIGN.md "Retries", webhooks): 2xx is delivered; 410
/// means the endpoint is gone; anything else is tried again on the schedule (0, 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h by default) with ±20 % jitter, at least a minute after a 429 or
/// a time-out, later still if `Retry-After` says so; after the last attempt the delivery is dead.
public struct WebhookRetryPolicy: Sendable, Equatable {
    /// When each attempt is due, counted from the one before (the first is due at once).
    public var schedule: [Duration]
    /// Each delay is drawn from ±`jitter` of its nominal value.
    public var jitter: Double
    /// The least delay after a 429 or a time-out: a struggling receiver gets room.
    public var slowDown: Duration
    /// The most a `Retry-After` may postpone an attempt.
    public var longestRetryAfter: Duration

    public static let standardSchedule: [Duration] = [
        .zero, .seconds(5), .seconds(300), .seconds(1_800), .seconds(7_200), .seconds(18_000), .seconds(36_000), .seconds(36_000),
    ]

    public init(schedule: [Duration] = standardSchedule, jitter: Double = 0.2, slowDown: Duration = .seconds(60),
                longestRetryAfter: Duration = .seconds(86_400)) {
        self.schedule = schedule
        self.jitter = jitter
        self.slowDown = slowDown
        self.longestRetryAfter = longestRetryAfter
    }

    /// How an attempt ended.
    public enum Answer: Sendable, Equatable {
        /// An HTTP status, with the `Retry-After` header if the answer had one.
        case status(Int, retryAfter: String?)
        /// No answer within the time-out.
        case timeout
        /// No answer at all: the connection failed, or the address was refused before connecting.
        case failed
    }

    public enum Decision: Sendable, Equatable {
        case delivered
        /// Try again after this long.
        case retry(after: Duration)
        /// The last attempt failed.
        case dead
        /// The endpoint answered 410 Gone: disable it.
        case gone
    }

    /// The decision after attempt number `attempt` (1 for the first) ended with `answer`.
    public func decide(_ answer: Answer, attempt: Int, now: Date = Date(),
                       random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) -> Decision {
        var retryAfter: Duration?
        var slowDown = false
        switch answer {
        case .status(let code, let header):
            if (200...299).contains(code) { return .delivered }
            if code == 410 { return .gone }
            slowDown = code == 429
            retryAfter = header.flatMap { Self.retryAfter($0, now: now) }
        case .timeout:
            slowDown = true
        case .failed:
            break
        }
        guard attempt < schedule.count else { return .dead }
        let nominal = schedule[attempt].seconds
        var delay = nominal * random((1 - jitter)...(1 + jitter))
        if slowDown { delay = max(delay, self.slowDown.seconds) }
        if let retryAfter { delay = max(delay, min(retryAfter.seconds, longestRetryAfter.seconds)) }
        return .retry(after: .milliseconds(Int64((delay * 1000).rounded())))
    }

    /// `Retry-After` as seconds or an HTTP date, relative to `now`; nil if it is neither.
    public static func retryAfter(_ header: String, now: Date) -> Duration? {
        let text = header.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(text) { return seconds >= 0 ? .seconds(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }}
