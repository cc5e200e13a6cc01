import Foundation

/// A delivery of one event to one endpoint, with its attempts (as `GET …/deliveries` shows it).
public struct WebhookDelivery: Sendable, Equatable {
    public struct Attempt: Sendable, Equatable {
        public var number: Int
        public var at: Date
        public var statusCode: Int?
        public var latencyMilliseconds: Int
        /// The first 4 KiB of the answer.
        public var responseBody: String?
        public var error: String?

        public init(number: Int, at: Date, statusCode: Int?, latencyMilliseconds: Int, responseBody: String?, error: String?) {
            self.number = number
            self.at = at
            self.statusCode = statusCode
            self.latencyMilliseconds = latencyMilliseconds
            self.responseBody = responseBody
            self.error = error
        }
    }

    public var id: UUID
    public var endpointID: UUID
    public var eventID: UUID
    public var eventType: String
    /// `pending`, `succeeded` or `dead`.
    public var status: String
    /// When the next attempt is due, while pending.
    public var nextAttemptAt: Date?
    public var createdAt: Date
    public var deliveredAt: Date?
    public var attempts: [Attempt]

    public init(id: UUID, endpointID: UUID, eventID: UUID, eventType: String, status: String, nextAttemptAt: Date?, createdAt: Date,
                deliveredAt: Date?, attempts: [Attempt]) {
        self.id = id
        self.endpointID = endpointID
        self.eventID = eventID
        self.eventType = eventType
        self.status = status
        self.nextAttemptAt = nextAttemptAt
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
        self.attempts = attempts
    }
}
