/// What `ProcessorStore.record` did with a final answer.
enum ProcessorRecordOutcome: Sendable {
    /// Stored with its key, and the money moved, in one transaction.
    case recorded
    /// The key already had an answer (possibly committed by a concurrent request this one
    /// waited for): replay that one; nothing moved.
    case existing(ProcessorStoredAnswer)
}
