import Foundation

/// The first final answer given for an idempotency key, and the order it was for.
struct ProcessorStoredAnswer: Sendable, Equatable {
    var orderID: UUID
    var answer: ProcessorAnswer
}
