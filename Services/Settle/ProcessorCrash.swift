import Hummingbird
import NIOCore

/// `crash_after_charge`: the charge and its stored answer have committed, and the simulator
/// "dies" before answering, as a real processor can. The client must see a failed call, never
/// a success, so that only its retry with the same key (a replay) tells it the charge was taken.
struct ProcessorCrash: Error {
    /// Closes the request's connection and returns a response that cannot be written.
    ///
    /// Closing first means no byte of the answer leaves: the client reads end of stream where it
    /// expected a status line. The body that throws is the second line of defence: Hummingbird
    /// writes the head before a streamed body, and a writer that throws makes it close the
    /// connection mid-response, so even then the client only sees an incomplete answer.
    static func dropConnection(_ context: ProcessorRequestContext) async -> Response {
        try? await context.channel.close().get()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { _ in
            throw ProcessorCrash()
        })
    }
}
