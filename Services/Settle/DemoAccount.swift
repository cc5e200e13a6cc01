import Foundation
import Logging
import PostgresNIO
import SettleDomain
import SettleRuntime
import SettleStorage

/// The local stack's demo merchant, "Demo shop", with a webhook endpoint at the stack's sink
/// (every event type). `settle up` makes it once and keeps its API key in `.settle/demo.env`
/// (readable by its owner only), so a newcomer can call the API at once; the sink verifies the
/// endpoint's webhooks with the secret it reads from the database.
struct DemoAccount: Sendable {
    var merchant: UUID
    var apiKey: String
    var endpoint: UUID?

    /// The account `demo.env` names if its merchant is still in the database and its key still
    /// works (it may have been rolled or revoked); otherwise a new one. Its endpoint points at
    /// this stack's sink: one at another address (the stack's ports changed) or gone is replaced.
    static func ensure(file: URL, environment: [String: String], sinkURL: String) async throws -> DemoAccount {
        let saved = load(file)
        let url = sinkURL + "/hooks/demo"
        let account = try await CLIDatabase.with(environment: environment, name: "settle-up") { client, logger -> DemoAccount in
            let merchants = MerchantStore(client: client, logger: logger)
            let endpoints = WebhookEndpointStore(client: client, logger: logger)
            if let saved, try await merchants.exists(saved.merchant),
               let key = try await APIKeyStore(client: client, logger: logger).credential(keyHash: APIKey.hash(saved.apiKey)),
               key.merchant == saved.merchant, key.refusal(at: Date()) == nil {
                if let id = saved.endpoint, try await endpoints.find(id, merchant: saved.merchant)?.url == url { return saved }
                if let id = saved.endpoint { _ = try await endpoints.delete(id, merchant: saved.merchant) }
                var account = saved
                account.endpoint = try await makeEndpoint(url, merchant: saved.merchant, endpoints)
                return account
            }
            let created = try await merchants.create(name: "Demo shop")
            return DemoAccount(merchant: created.id, apiKey: created.apiKey, endpoint: try await makeEndpoint(url, merchant: created.id, endpoints))
        }
        if account.apiKey != saved?.apiKey || account.endpoint != saved?.endpoint { try account.save(file) }
        return account
    }

    /// An endpoint of `merchant` at `url` for every event type.
    private static func makeEndpoint(_ url: String, merchant: UUID, _ endpoints: WebhookEndpointStore) async throws -> UUID? {
        let new = try NewWebhookEndpoint(json: .object([
            "url": .string(url), "enabled_events": .array([.string("*")]),
            "description": .string("the local stack's sink (settle up)"),
        ]))
        let outcome = try await endpoints.create(merchant: merchant, new, secret: WebhookSecret.generate(), claim: nil) { _ in (0, []) }
        guard case .created(let endpoint) = outcome else { return nil }
        return endpoint.id
    }

    static func load(_ file: URL) -> DemoAccount? {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        let values = StackEnvironment.parse(text)
        guard let merchant = values["SETTLE_DEMO_MERCHANT_ID"].flatMap(UUID.init(uuidString:)), let key = values["SETTLE_DEMO_API_KEY"] else {
            return nil
        }
        return DemoAccount(merchant: merchant, apiKey: key, endpoint: values["SETTLE_DEMO_ENDPOINT_ID"].flatMap(UUID.init(uuidString:)))
    }

    private func save(_ file: URL) throws {
        let text = """
            # Written by `settle up`: the local stack's demo merchant. Its API key is a secret: this file is yours only.
            SETTLE_DEMO_MERCHANT_ID=\(merchant.lowercased)
            SETTLE_DEMO_API_KEY=\(apiKey)
            SETTLE_DEMO_ENDPOINT_ID=\(endpoint?.lowercased ?? "")

            """
        guard FileManager.default.createFile(atPath: file.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }
}
