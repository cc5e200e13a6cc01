import Foundation

/// A merchant's webhook endpoint, as stored (its secrets are not part of it: they are shown
/// only when created or rotated, and read only by the dispatcher to sign).
public struct WebhookEndpoint: Sendable, Equatable {
    public enum DisabledReason: String, Sendable, CaseIterable {
        /// The merchant disabled it.
        case manual
        /// It answered 410 Gone.
        case gone
        /// It failed for days without a success.
        case failing
    }

    public var id: UUID
    public var merchantID: UUID
    public var url: String
    public var description: String?
    public var enabledEvents: [String]
    public var fifo: Bool
    public var enabled: Bool
    public var disabledReason: DisabledReason?
    public var createdAt: Date

    public init(id: UUID, merchantID: UUID, url: String, description: String?, enabledEvents: [String], fifo: Bool,
                enabled: Bool, disabledReason: DisabledReason?, createdAt: Date) {
        self.id = id
        self.merchantID = merchantID
        self.url = url
        self.description = description
        self.enabledEvents = enabledEvents
        self.fifo = fifo
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.createdAt = createdAt
    }

    /// Whether an event of `type` goes to this endpoint (when it is enabled).
    public func subscribes(to type: String) -> Bool {
        enabledEvents.contains("*") || enabledEvents.contains(type)
    }
}
