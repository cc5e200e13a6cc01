import AsyncHTTPClient
import ServiceLifecycle

/// Shuts an `HTTPClient` down when the service group stops (after the services that use it,
/// which come later in the group and so stop first).
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
