import Foundation
import Hummingbird
import NIOCore

/// The request context of the order API: Hummingbird's core plus the merchant the API key
/// authenticated (set by `Authenticator`, read by every `/v1` route).
struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    var merchant: AuthenticatedMerchant?
    /// The connection's peer (a proxy's address when one is in front; see `ClientAddress`).
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies over 64 KiB are refused with 413 before they are parsed.
    var maxUploadSize: Int { 64 * 1024 }

    /// The authenticated merchant; `/v1` routes run behind `Authenticator`, so it is always set there.
    func requireMerchant() throws -> AuthenticatedMerchant {
        guard let merchant else { throw APIProblem.unauthorized("No API key provided.") }
        return merchant
    }
}

/// Who a request acts for.
struct AuthenticatedMerchant: Sendable {
    var id: UUID
    /// The key the request was made with (the one `POST /v1/api-keys/roll` expires).
    var keyID: UUID
    /// SHA-256 of the API key: the rate limit is per key, and the key itself is never kept.
    var keyHash: [UInt8]
}
