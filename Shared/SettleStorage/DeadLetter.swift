import Foundation

/// A message a consumer gave up on, as `dead_letters` keeps it (migration 0007).
public struct DeadLetter: Sendable {
    /// The row's id, as `settle dlq` shows it; 0 until stored.
    public var id: Int64
    /// The dead-letter topic.
    public var topic: String
    /// Where a replay sends the message.
    public var originalTopic: String
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    public var consumerGroup: String
    public var eventID: UUID?
    public var key: String?
    public var payload: [UInt8]
    /// The message's own headers, without retry-* and dlq-*.
    public var headers: [(key: String, value: String)]
    public var errorClass: String
    public var errorMessage: String
    public var attempts: Int
    /// How often this message has been dead-lettered, this time included.
    public var deadLetterCount: Int
    public var firstFailedAt: Date
    public var createdAt: Date
    public var replayedAt: Date?
    public var replayedTo: String?

    public init(id: Int64 = 0, topic: String, originalTopic: String, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64,
                consumerGroup: String, eventID: UUID?, key: String?, payload: [UInt8], headers: [(key: String, value: String)],
                errorClass: String, errorMessage: String, attempts: Int, deadLetterCount: Int, firstFailedAt: Date,
                createdAt: Date = Date(), replayedAt: Date? = nil, replayedTo: String? = nil) {
        self.id = id
        self.topic = topic
        self.originalTopic = originalTopic
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.consumerGroup = consumerGroup
        self.eventID = eventID
        self.key = key
        self.payload = payload
        self.headers = headers
        self.errorClass = errorClass
        self.errorMessage = errorMessage
        self.attempts = attempts
        self.deadLetterCount = deadLetterCount
        self.firstFailedAt = firstFailedAt
        self.createdAt = createdAt
        self.replayedAt = replayedAt
        self.replayedTo = replayedTo
    }
}
