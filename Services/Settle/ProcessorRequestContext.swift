import Hummingbird
import NIOCore

/// The simulator's request context: Hummingbird's core plus the request's connection, which
/// `crash_after_charge` closes to drop a charge's answer on the floor.
struct ProcessorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies over 64 KiB are refused with 413 before they are parsed.
    var maxUploadSize: Int { 64 * 1024 }
}
