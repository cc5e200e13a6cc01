import Foundation

public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "deadline passed waiting for \(what)" }
}

/// Waits until `condition` holds, checking every few milliseconds, or throws at the deadline.
/// Tests synchronise on conditions like this, never on fixed sleeps.
public func eventually(
    _ what: String,
    within deadline: Duration = .seconds(30),
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let end = ContinuousClock.now + deadline
    while ContinuousClock.now < end {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    if try await condition() { return }
    throw DeadlineExceeded(what: what)
}
