import Synchronization

/// The fault settings every request reads and `POST /faults` changes while the simulator runs.
///
/// Kept in memory on purpose: faults are a property of one chaos run, not state a restart
/// should bring back.
final class ProcessorFaults: Sendable {
    private let settings: Mutex<ProcessorFaultSettings>

    init(_ initial: ProcessorFaultSettings) {
        settings = Mutex(initial)
    }

    var current: ProcessorFaultSettings {
        settings.withLock { $0 }
    }

    /// Applies `change` and returns the settings after it.
    func update(_ change: (inout ProcessorFaultSettings) -> Void) -> ProcessorFaultSettings {
        settings.withLock { settings in
            change(&settings)
            return settings
        }
    }

    /// True with probability `rate` (0 never, 1 always).
    static func happens(_ rate: Double) -> Bool {
        rate > 0 && Double.random(in: 0..<1) < rate
    }
}
