import SettleDomain
import SettleRuntime
import Testing

/// Where webhooks may go. Nothing here sends a packet: address literals are parsed, and the
/// names resolved are numeric forms and `localhost`, which the resolver answers from itself
/// and /etc/hosts.
@Suite("Webhook destinations")
struct WebhookDestinationTests {
    static let refused = [
        "http://127.0.0.1/hook", "http://127.8.9.10:8080/", "http://10.1.2.3/", "http://172.16.0.1/", "http://172.31.255.255/",
        "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://0.0.0.0/",
        "http://224.0.0.1/", "http://255.255.255.255/", "http://[::1]/", "http://[::]/", "http://[fd00:ec2::254]/",
        "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::10.0.0.1]/",
        "http://[2002:a00:1::]/", "https://localhost/", "http://2130706433/", "http://0x7f.1/", "http://017700000001/",
    ]

    @Test("Loopback, private, link-local (cloud metadata), shared, multicast and reserved addresses are refused, however written")
    func refusedByDefault() async throws {
        let destination = WebhookDestination(policy: WebhookAddressPolicy())
        for text in Self.refused {
            let url = try WebhookURL(text)
            await #expect(throws: WebhookDestinationRefused.self, "\(text)") { try await destination.check(url) }
            do {
                _ = try await destination.check(url)
            } catch {
                #expect(error.code == "url_not_allowed", "\(text): \(error.message)")
            }
        }
    }

    @Test("Public addresses pass; an allowed network passes and nothing else does")
    func allowedNetworks() async throws {
        let strict = WebhookDestination(policy: WebhookAddressPolicy())
        for text in ["https://93.184.215.14/hook", "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/x", "http://172.32.0.1/", "http://11.0.0.1/"] {
            #expect(try await strict.check(try WebhookURL(text)).count == 1, "\(text)")
        }
        let local = WebhookDestination(policy: WebhookAddressPolicy(allowed: [IPNetwork("127.0.0.0/8")!, IPNetwork("::1/128")!]))
        #expect(try await local.check(try WebhookURL("http://127.0.0.1:7199/hook")) == [[127, 0, 0, 1]])
        #expect(try await local.check(try WebhookURL("http://localhost:7199/hook")).allSatisfy { $0.first == 127 || $0.count == 16 })
        for text in ["http://10.0.0.1/", "http://192.168.0.1/", "http://169.254.169.254/"] {
            await #expect(throws: WebhookDestinationRefused.self, "\(text)") { try await local.check(try WebhookURL(text)) }
        }
    }

    @Test("Malformed URLs are url_invalid: another scheme, credentials, a fragment, no host, spaces, an odd host, too long")
    func malformed() throws {
        for text in ["ftp://example.com/", "example.com/hook", "http://user:pass@example.com/", "http://example.com/#part", "http:///path",
                     "http://exa mple.com/", "http://exa_mple.com/", "not a url", "https://example.com/" + String(repeating: "a", count: 2_048),
                     "javascript:alert(1)", "http://example.com:70000/"] {
            #expect(throws: ValidationFailure.self, "\(text)") { try WebhookURL(text) }
            do {
                _ = try WebhookURL(text)
            } catch {
                #expect(error.code == "url_invalid" && error.param == "url", "\(text)")
            }
        }
        #expect(try WebhookURL("HTTPS://Example.COM:8443/a?b=c").host == "example.com")
        #expect(try WebhookURL("https://example.com/x").port == 443)
        #expect(try WebhookURL("http://[::1]:81/").literalAddress?.count == 16)
    }

    @Test("CIDR networks: parsing, membership, and a configuration that is not one")
    func networks() throws {
        let network = try #require(IPNetwork("172.16.0.0/12"))
        #expect(network.contains([172, 31, 255, 255]))
        #expect(!network.contains([172, 32, 0, 0]))
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(IPNetwork("10.0.0/8") == nil)
        #expect(IPNetwork("fc00::/7")?.contains(IPNetwork.parseAddress("fdff::1")!) == true)
        #expect(IPNetwork("::1")?.description == "::1/128")
        #expect(try EnvironmentReader(["N": "127.0.0.0/8, ::1/128"]).networks("N").count == 2)
        #expect(throws: ConfigurationError.self) { try EnvironmentReader(["N": "127.0.0.0/8,localhost"]).networks("N") }
    }
}
