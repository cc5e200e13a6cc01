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
    /// works (it may have been rolled or revoked); otherwise a new one.
    static func ensure(file: URL, environment: [String: String], sinkURL: String) async throws -> DemoAccount {
        let saved = load(file)
        let account = try await CLIDatabase.with(environment: environment, name: "settle-up") { client, logger -> DemoAccount in
            let merchants = MerchantStore(client: client, logger: logger)
            if let saved, try await merchants.exists(saved.merchant),
               let key = try await APIKeyStore(client: client, logger: logger).credential(keyHash: APIKey.hash(saved.apiKey)),
               key.merchant == saved.merchant, key.refusal(at: Date()) == nil {
                return saved
            }
            let created = try await merchants.create(name: "Demo shop")
            let new = try NewWebhookEndpoint(json: .object([
                "url": .string(sinkURL + "/hooks/demo"), "enabled_events": .array([.string("*")]),
                "description": .string("the local stack's sink (settle up)"),
            ]))
            let outcome = try await WebhookEndpointStore(client: client, logger: logger)
                .create(merchant: created.id, new, secret: WebhookSecret.generate(), claim: nil) { _ in (0, []) }
            guard case .created(let endpoint) = outcome else { return DemoAccount(merchant: created.id, apiKey: created.apiKey) }
            return DemoAccount(merchant: created.id, apiKey: created.apiKey, endpoint: endpoint.id)
        }
        if account.apiKey != saved?.apiKey { try account.save(file) }
        return account
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
