import Dispatch
import DequeModule
import Synchronization

/// The consumer's bookkeeping, shared by the poll thread, the commit thread and the tasks
/// iterating or committing. Everything is behind one lock; nothing blocks while holding it
/// except the short, non-blocking librdkafka calls that must not race with destruction.
final class KafkaConsumerState: Sendable {
    struct Storage {
        var lifecycle: Lifecycle = .open
        var buffer: Deque<KafkaConsumerMessage> = []
        var waiter: CheckedContinuation<KafkaConsumerMessage?, Never>?
        var finished = false
        var assigned: Set<KafkaTopicPartition> = []
        /// Paused partitions and the offset to resume from (nil: librdkafka's own position is right).
        var paused: [KafkaTopicPartition: Int64?] = [:]
        /// Highest offset handed to the application, per partition.
        var delivered: [KafkaTopicPartition: Int64] = [:]
        /// The first offset handed out since the partition was assigned: taking back everything
        /// from there on leaves nothing of the partition in flight.
        var firstDelivered: [KafkaTopicPartition: Int64] = [:]
        /// Highest offset whose commit the broker confirmed, per partition.
        var committed: [KafkaTopicPartition: Int64] = [:]
        var commits: [UInt: (entries: [KafkaTopicPartition: Int64], continuation: CheckedContinuation<Void, any Error>)] = [:]
        var nextCommitID: UInt = 1
    }

    enum Lifecycle { case open, closed }

    let storage = Mutex(Storage())
    let capacity: Int
    /// Signalled when the application takes a message out of a full buffer.
    let spaceAvailable = DispatchSemaphore(value: 0)
    /// Signalled whenever a commit completes, for a revocation waiting on in-flight work.
    let commitProgress = DispatchSemaphore(value: 0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    var isFull: Bool { storage.withLock { $0.buffer.count >= capacity } }

    /// Called by the poll thread with a freshly copied message.
    func append(_ message: KafkaConsumerMessage) {
        let waiter: CheckedContinuation<KafkaConsumerMessage?, Never>? = storage.withLock { state in
            let topicPartition = message.topicPartition
            guard !state.finished, state.assigned.contains(topicPartition) else { return nil }
            if let resumeAt = state.paused[topicPartition] {
                // Fetched before the pause took effect: drop it and make sure resume re-reads it.
                state.paused[topicPartition] = min(resumeAt ?? message.offset, message.offset)
                return nil
            }
            if let waiter = state.waiter {
                state.waiter = nil
                state.handedOut(message)
                return waiter
            }
            state.buffer.append(message)
            return nil
        }
        waiter?.resume(returning: message)
    }

    /// The application asks for the next message; suspends until there is one or the consumer ends.
    func next() async -> KafkaConsumerMessage? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaConsumerMessage?, Never>) in
                enum Outcome { case message(KafkaConsumerMessage, signal: Bool), end, wait }
                let outcome: Outcome = storage.withLock { state in
                    if let message = state.buffer.popFirst() {
                        state.handedOut(message)
                        return .message(message, signal: state.buffer.count == capacity - 1)
                    }
                    if state.finished || Task.isCancelled { return .end }
                    state.waiter = continuation
                    return .wait
                }
                switch outcome {
                case .message(let message, let signal):
                    if signal { spaceAvailable.signal() }
                    continuation.resume(returning: message)
                case .end:
                    continuation.resume(returning: nil)
                case .wait:
                    break
                }
            }
        } onCancel: {
            let waiter = storage.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Ends the sequence: buffered messages are dropped (they were never handed out, so
    /// the next owner of their partitions reads them from the committed offset).
    func finish() {
        let waiter = storage.withLock { state in
            state.finished = true
            state.buffer.removeAll()
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
        spaceAvailable.signal()
    }

    func assign(_ partitions: [KafkaTopicPartition]) {
        storage.withLock { state in
            state.assigned.formUnion(partitions)
        }
    }

    /// Stops delivering revoked partitions: buffered messages of theirs are dropped so that
    /// nobody handles them after the next owner may have started (swift-kafka-client #136).
    /// - Returns: the revoked partitions that were paused: librdkafka keeps a partition's pause
    ///   across unassign and reassign, so the caller resumes them before letting go.
    func beginRevoke(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        let revoked = Set(partitions)
        let paused = storage.withLock { state in
            state.assigned.subtract(revoked)
            state.buffer.removeAll { revoked.contains($0.topicPartition) }
            return revoked.filter { state.paused.removeValue(forKey: $0) != nil }
        }
        spaceAvailable.signal()
        return Array(paused)
    }

    /// Partitions whose delivered messages are not all committed yet.
    func inFlight(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        storage.withLock { state in
            partitions.filter { partition in
                guard let delivered = state.delivered[partition] else { return false }
                return (state.committed[partition] ?? -1) < delivered
            }
        }
    }

    func endRevoke(_ partitions: [KafkaTopicPartition]) {
        storage.withLock { state in
            for partition in partitions {
                state.delivered.removeValue(forKey: partition)
                state.firstDelivered.removeValue(forKey: partition)
                state.committed.removeValue(forKey: partition)
            }
        }
    }

    var assignment: Set<KafkaTopicPartition> { storage.withLock { $0.assigned } }

    func completeCommit(_ id: UInt, _ result: Result<Void, KafkaError>) {
        let continuation = storage.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard let commit = state.commits.removeValue(forKey: id) else { return nil }
            if case .success = result {
                for (partition, nextOffset) in commit.entries {
                    state.committed[partition] = max(state.committed[partition] ?? -1, nextOffset - 1)
                }
            }
            return commit.continuation
        }
        commitProgress.signal()
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    func failAllCommits(_ error: KafkaError) {
        let all = storage.withLock { state in
            defer { state.commits = [:] }
            return state.commits
        }
        for commit in all.values { commit.continuation.resume(throwing: error) }
    }
}

extension KafkaConsumerState.Storage {
    mutating func handedOut(_ message: KafkaConsumerMessage) {
        let partition = message.topicPartition
        delivered[partition] = message.offset
        if firstDelivered[partition] == nil { firstDelivered[partition] = message.offset }
    }

    /// The messages of `partition` handed out from `offset` on will not be committed by this member.
    mutating func takeBack(_ partition: KafkaTopicPartition, from offset: Int64) {
        guard let last = delivered[partition], last >= offset else { return }
        if let first = firstDelivered[partition], offset <= first {
            delivered.removeValue(forKey: partition)
            firstDelivered.removeValue(forKey: partition)
        } else {
            delivered[partition] = offset - 1
        }
    }
}
