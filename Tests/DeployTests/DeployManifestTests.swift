import Foundation
import SettleDomain
import Testing
import Yams

/// docker-compose.yml, k8s/, deploy/Dockerfile and deploy/prometheus agree with the code and
/// with each other (DESIGN.md "Deploy": both are validated offline). Files only: no Docker, no
/// cluster, no network.
@Suite("Deployment manifests")
struct DeployManifestTests {
    /// Every variable a Settle service reads that a deployment may set (README "Configuration").
    static let variablesTheCodeReads: Set<String> = [
        "DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "SETTLE_HOST", "SETTLE_LOG_LEVEL",
        "SETTLE_API_PORT", "SETTLE_RELAY_PORT", "SETTLE_WORKER_PORT", "SETTLE_DISPATCHER_PORT",
        "SETTLE_RATE_LIMIT", "SETTLE_RATE_LIMIT_BURST", "SETTLE_RATE_LIMIT_FAIL_OPEN",
        "SETTLE_ORDER_CACHE_TTL_SECONDS", "SETTLE_INGEST_BATCH_MAX", "SETTLE_INGEST_BATCH_WAIT_MS",
        "SETTLE_INGEST_CONCURRENCY", "SETTLE_IDEMPOTENCY_LOCK_SECONDS",
        "SETTLE_RELAY_BATCH", "SETTLE_RELAY_POLL_MS", "SETTLE_RELAY_LISTEN",
        "SETTLE_PROCESSOR_PORT", "SETTLE_SINK_PORT", "SETTLE_API_URL", "SETTLE_PROCESSOR_URL", "SETTLE_SINK_URL",
        "SETTLE_HOME", "SETTLE_WEBHOOK_ALLOWED_NETWORKS",
    ]

    /// The variable each service takes its HTTP port from: the four services' executables and
    /// the CLI's two development roles (`settle processor`, `settle sink`).
    static let portVariables = [
        "settle-api": "SETTLE_API_PORT", "settle-relay": "SETTLE_RELAY_PORT",
        "settle-worker": "SETTLE_WORKER_PORT", "settle-dispatcher": "SETTLE_DISPATCHER_PORT",
        "settle-processor": "SETTLE_PROCESSOR_PORT", "settle-sink": "SETTLE_SINK_PORT",
    ]

    /// The sink stands in for a merchant's endpoint: it serves no /metrics.
    static let unscraped: Set<String> = ["settle-sink"]

    /// The service a container command runs: `settle-worker`, or `settle-sink` for `settle sink …`.
    static func service(running command: [String]) -> String? {
        guard let first = command.first else { return nil }
        if first == "settle", command.count > 1 { return "settle-\(command[1])" }
        return first
    }

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every Swift source of the services and shared libraries, concatenated.
    static func codeSources() throws -> String {
        var sources = ""
        for folder in ["Services", "Shared"] {
            let files = FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil)
            while let file = files?.nextObject() as? URL {
                if file.pathExtension == "swift" { sources += try String(contentsOf: file, encoding: .utf8) }
            }
        }
        return sources
    }

    @Test("Every Settle variable the deployments set is one the code reads")
    func variablesAreRead() throws {
        let sources = try Self.codeSources()
        let unread = Self.variablesTheCodeReads.filter { !sources.contains("\"\($0)\"") }
        #expect(unread.isEmpty, "no code in Services/ or Shared/ reads \(unread.sorted())")

        var assigned: [String: String] = [:]  // variable → where it is set
        for (name, service) in try Self.composeServices() {
            for variable in try Self.environment(of: service).keys { assigned[variable] = "docker-compose.yml \(name)" }
        }
        for object in try Self.kubernetesObjects() {
            let place = "k8s \(Self.kind(object))/\(Self.name(object))"
            for key in ["data", "stringData"] {
                for variable in ((object[key] as? [String: Any]) ?? [:]).keys { assigned[variable] = place }
            }
            for container in Self.containers(object) {
                for entry in (container["env"] as? [[String: Any]]) ?? [] { assigned[entry["name"] as? String ?? ""] = place }
            }
        }
        let settle = assigned.filter { $0.key.hasPrefix("SETTLE_") || ["DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS"].contains($0.key) }
        #expect(settle.count >= 9)
        for (variable, place) in settle {
            #expect(Self.variablesTheCodeReads.contains(variable), "\(place) sets \(variable), which no Settle service reads")
        }
    }

    @Test("Every long-running compose service has a health check, and the one-shot jobs are waited for")
    func composeHealthAndOrder() throws {
        let services = try Self.composeServices()
        let oneShot = Set(services.filter { Self.isOneShot($0.value) }.keys)
        #expect(oneShot.isSuperset(of: ["migrate", "topics"]))
        for (name, service) in services {
            #expect(Self.isOneShot(service) || service["healthcheck"] != nil, "\(name) has no health check")
            for (dependency, value) in (service["depends_on"] as? [String: Any]) ?? [:] {
                let condition = (value as? [String: Any])?["condition"] as? String
                let expected = oneShot.contains(dependency) ? "service_completed_successfully" : "service_healthy"
                #expect(condition == expected, "\(name) waits for \(dependency) with \(condition ?? "no condition")")
                #expect(services[dependency] != nil, "\(name) depends on \(dependency), which is not a service")
            }
        }
        for (name, port) in try Self.composeServicePorts() {
            let service = try #require(services[name])
            let dependencies = Set(((service["depends_on"] as? [String: Any]) ?? [:]).keys)
            #expect(dependencies.isSuperset(of: oneShot), "\(name) starts before \(oneShot.subtracting(dependencies)) finished")
            let check = ((service["healthcheck"] as? [String: Any])?["test"] as? [String])?.joined(separator: " ") ?? ""
            #expect(check.contains(":\(port)/healthz"), "\(name)'s health check does not ask its own port \(port)")
            #expect(try Self.environment(of: service)["SETTLE_HOST"] == "0.0.0.0", "\(name) binds loopback only")
        }
        let worker = try #require(services["settle-worker"])
        #expect(worker["container_name"] == nil && worker["ports"] == nil, "settle-worker cannot be scaled")
    }

    @Test("The topic jobs create exactly Settle's topics with their partition counts")
    func topics() throws {
        let expected = KafkaTopics.all.map { "\($0.name) \($0.partitions)" }.sorted()
        let compose = try #require(try Self.composeServices()["topics"]?["command"] as? [String])
        let job = try #require(try Self.kubernetesObjects().first { Self.kind($0) == "Job" && Self.name($0) == "settle-topics" })
        let container = try #require(Self.containers(job).first)
        let kubernetes = ((container["command"] as? [String]) ?? []) + ((container["args"] as? [String]) ?? [])
        for script in [compose.joined(separator: "\n"), kubernetes.joined(separator: "\n")] {
            // `create <topic> <partitions>` lines.
            let lines: [[Substring]] = script.split(separator: "\n").map { $0.split(separator: " ") }
            let created: [String] = lines.filter { $0.count == 3 && $0[0] == "create" }.map { $0[1...].joined(separator: " ") }
            #expect(created.sorted() == expected)
            #expect(script.contains("--if-not-exists") && script.contains("--partitions"))
        }
    }

    @Test("Prometheus scrapes every Settle service of the compose file")
    func prometheusScrapesEveryService() throws {
        let targets = try Self.scrapeTargets("deploy/prometheus/prometheus.yml")
        let services = try Self.composeServicePorts()
        #expect(Set(services.keys) == Set(Self.portVariables.keys))
        for (name, port) in services where !Self.unscraped.contains(name) {
            #expect(targets.contains("\(name):\(port)"), "Prometheus does not scrape \(name) on port \(port)")
        }
    }

    @Test("Prometheus on Kubernetes scrapes every Settle service through a headless Service of its pods")
    func kubernetesPrometheusScrapesEveryService() throws {
        let targets = try Self.scrapeTargets("deploy/prometheus/prometheus-k8s.yml")
        let objects = try Self.kubernetesObjects()
        let deployments = objects.filter { Self.kind($0) == "Deployment" }.map(Self.name)
        #expect(Set(deployments) == Set(Self.portVariables.keys))
        for name in deployments where !Self.unscraped.contains(name) {
            let headless = try #require(objects.first { Self.kind($0) == "Service" && Self.name($0) == "\(name)-metrics" },
                                        "no headless Service \(name)-metrics")
            let spec = try #require(headless["spec"] as? [String: Any])
            #expect(spec["clusterIP"] as? String == "None", "\(name)-metrics is not headless: one address, not one per pod")
            #expect((spec["selector"] as? [String: String])?["app.kubernetes.io/name"] == name)
            let port = try #require((spec["ports"] as? [[String: Any]])?.first?["port"] as? Int)
            #expect(port == Int(try Self.kubernetesEnvironment(of: name)[Self.portVariables[name]!] ?? ""), "\(name)-metrics' port")
            #expect(targets.contains("\(name)-metrics:\(port)"), "Prometheus on Kubernetes does not scrape \(name) on port \(port)")
        }
    }

    @Test("Webhooks may reach the sink's fixed address and no other private one, and the sink and processor are where the services look")
    func webhookPolicyAllowsOnlyTheSink() throws {
        // Compose: the sink's fixed address on the pinned subnet is the one allowed network.
        let services = try Self.composeServices()
        let sink = try #require(services["settle-sink"])
        let address = try #require(((sink["networks"] as? [String: Any])?["default"] as? [String: Any])?["ipv4_address"] as? String)
        let compose = try #require(try Self.documents("docker-compose.yml").first)
        let subnet = try #require(((((compose["networks"] as? [String: Any])?["default"] as? [String: Any])?["ipam"] as? [String: Any])?["config"]
            as? [[String: Any]])?.first?["subnet"] as? String)
        #expect(Self.contains(subnet: subnet, address: address), "\(address) is outside \(subnet)")
        let sinkPort = try #require(try Self.environment(of: sink)["SETTLE_SINK_PORT"])
        let processorService = try #require(services["settle-processor"])
        let processorPort = try #require(try Self.environment(of: processorService)["SETTLE_PROCESSOR_PORT"])
        for name in ["settle-api", "settle-dispatcher"] {
            let service = try #require(services[name])
            let environment = try Self.environment(of: service)
            #expect(environment["SETTLE_WEBHOOK_ALLOWED_NETWORKS"] == "\(address)/32", "\(name) allows more than the sink")
            #expect(environment["SETTLE_SINK_URL"] == "http://settle-sink:\(sinkPort)")
        }
        let workerService = try #require(services["settle-worker"])
        let worker = try Self.environment(of: workerService)
        #expect(worker["SETTLE_PROCESSOR_URL"] == "http://settle-processor:\(processorPort)")
        #expect(Self.publicURL(of: sink["command"]) == "http://settle-sink:\(sinkPort)", "the sink looks its secrets up under another URL")

        // Kubernetes: the sink Service's fixed cluster address, the same way.
        let objects = try Self.kubernetesObjects()
        let service = try #require(objects.first { Self.kind($0) == "Service" && Self.name($0) == "settle-sink" })
        let clusterIP = try #require((service["spec"] as? [String: Any])?["clusterIP"] as? String)
        #expect(Self.contains(subnet: "10.96.0.0/12", address: clusterIP), "outside minikube's service range")
        let servicePort = try #require(((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]])?.first?["port"] as? Int)
        for name in ["settle-api", "settle-dispatcher", "settle-sink"] {
            let environment = try Self.kubernetesEnvironment(of: name)
            #expect(environment["SETTLE_WEBHOOK_ALLOWED_NETWORKS"] == "\(clusterIP)/32", "\(name) allows more than the sink")
            #expect(environment["SETTLE_SINK_URL"] == "http://settle-sink:\(servicePort)")
        }
        let processor = try #require(objects.first { Self.kind($0) == "Service" && Self.name($0) == "settle-processor" })
        let processorServicePort = ((processor["spec"] as? [String: Any])?["ports"] as? [[String: Any]])?.first?["port"] as? Int
        #expect(try Self.kubernetesEnvironment(of: "settle-worker")["SETTLE_PROCESSOR_URL"] == "http://settle-processor:\(processorServicePort ?? 0)")
        let deployment = try #require(objects.first { Self.kind($0) == "Deployment" && Self.name($0) == "settle-sink" })
        #expect(Self.publicURL(of: Self.containers(deployment).first?["command"]) == "http://settle-sink:\(servicePort)")
    }

    @Test("Consumers get time to leave their groups, and workers are evicted one at a time")
    func gracefulTermination() throws {
        let services = try Self.composeServices()
        for name in ["settle-worker", "settle-dispatcher"] {
            #expect(services[name]?["stop_grace_period"] as? String == "30s", "\(name) is killed 10 s after SIGTERM")
        }
        let objects = try Self.kubernetesObjects()
        for name in ["settle-worker", "settle-dispatcher"] {
            let deployment = try #require(objects.first { Self.kind($0) == "Deployment" && Self.name($0) == name })
            #expect((Self.podSpec(deployment)?["terminationGracePeriodSeconds"] as? Int ?? 0) >= 30)
        }
        let budget = try #require(objects.first { Self.kind($0) == "PodDisruptionBudget" }, "no disruption budget")
        let spec = try #require(budget["spec"] as? [String: Any])
        #expect(spec["maxUnavailable"] as? Int == 1)
        #expect(((spec["selector"] as? [String: Any])?["matchLabels"] as? [String: String])?["app.kubernetes.io/name"] == "settle-worker")
    }

    @Test("deploy/kustomization.yaml builds on k8s/ and generates every ConfigMap Prometheus and Grafana mount, from files that exist")
    func observabilityKustomization() throws {
        let kustomization = try #require(try Self.documents("deploy/kustomization.yaml").first)
        let resources = (kustomization["resources"] as? [String]) ?? []
        #expect(resources.contains("../k8s"))
        #expect(kustomization["namespace"] as? String == "settle")
        var generated: [String: Set<String>] = [:]  // ConfigMap → its keys
        for generator in (kustomization["configMapGenerator"] as? [[String: Any]]) ?? [] {
            let name = try #require(generator["name"] as? String)
            for entry in (generator["files"] as? [String]) ?? [] {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                let file = parts.last!, key = parts.count == 2 ? parts[0] : URL(fileURLWithPath: file).lastPathComponent
                #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("deploy/\(file)").path), "deploy/\(file) is missing")
                #expect(!file.hasPrefix("..") && !file.hasPrefix("/"), "kustomize reads generated files only from under deploy/")
                generated[name, default: []].insert(key)
            }
        }
        var mounted: [(String, String?)] = []  // ConfigMap, key (nil: all of it)
        var deployments: [String] = []
        for resource in resources where resource.hasSuffix(".yaml") {
            for object in try Self.documents("deploy/\(resource)") {
                if Self.kind(object) == "Deployment" { deployments.append(Self.name(object)) }
                for volume in (Self.podSpec(object)?["volumes"] as? [[String: Any]]) ?? [] {
                    if let map = (volume["configMap"] as? [String: Any])?["name"] as? String { mounted.append((map, nil)) }
                    for source in ((volume["projected"] as? [String: Any])?["sources"] as? [[String: Any]]) ?? [] {
                        guard let map = source["configMap"] as? [String: Any], let name = map["name"] as? String else { continue }
                        for item in (map["items"] as? [[String: Any]]) ?? [] { mounted.append((name, item["key"] as? String)) }
                    }
                }
            }
        }
        #expect(Set(deployments) == ["prometheus", "grafana", "jaeger"])
        // The traces patch names the base's ConfigMap and only adds OpenTelemetry's variables.
        for patch in (kustomization["patches"] as? [[String: Any]]) ?? [] {
            let path = try #require(patch["path"] as? String)
            let object = try #require(try Self.documents("deploy/\(path)").first)
            #expect(Self.kind(object) == "ConfigMap" && Self.name(object) == "settle-config", "\(path) patches nothing of k8s/")
            let keys = Set(((object["data"] as? [String: Any]) ?? [:]).keys)
            #expect(!keys.isEmpty && keys.allSatisfy { $0.hasPrefix("OTEL_") }, "\(path) sets \(keys.sorted())")
            #expect((object["data"] as? [String: Any])?["OTEL_EXPORTER_OTLP_ENDPOINT"] as? String == "http://jaeger:4318")
        }
        #expect(mounted.count >= 4)
        for (map, key) in mounted {
            #expect(generated[map] != nil, "\(map) is mounted but not generated")
            if let key { #expect(generated[map]?.contains(key) == true, "\(map) has no key \(key)") }
        }
        #expect(generated["prometheus-config"] == ["prometheus.yml", "rules.yml"])
        let config = try #require(try Self.documents("deploy/prometheus/prometheus-k8s.yml").first)
        #expect((config["rule_files"] as? [String]) == ["rules.yml"])
    }

    @Test("The Grafana dashboard parses, compose provisions it from where its provider reads, and every metric its panels query is one a service exports or a recording rule")
    func dashboardQueriesExportedMetrics() throws {
        let path = "deploy/grafana/provisioning/dashboards/settle/settle.json"
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent(path))) as? [String: Any])
        let panels = (dashboard["panels"] as? [[String: Any]]) ?? []
        #expect(panels.count >= 10, "ingest, outbox, lag, retries, dead letters, webhooks, rate limit, cache, SLO burn")
        let expressions = panels.flatMap { (($0["targets"] as? [[String: Any]]) ?? []).compactMap { $0["expr"] as? String } }
        #expect(expressions.count >= panels.count)
        let sources = try Self.codeSources()
        let rules = try Self.text("deploy/prometheus/rules.yml")
        var metrics: Set<String> = []
        for expression in expressions {
            metrics.formUnion(try Self.settleMetrics(in: expression))
            // A recording rule a panel reads must be one rules.yml records.
            let recorded = try NSRegularExpression(pattern: "settle:[a-z_]+:[a-z0-9_]+")
            for match in recorded.matches(in: expression, range: NSRange(expression.startIndex..., in: expression)) {
                let name = String(expression[Range(match.range, in: expression)!])
                #expect(rules.contains("record: \(name)\n"), "\(name) is not a recording rule")
            }
        }
        let unknown = metrics.filter { !Self.exported($0, sources: sources) }
        #expect(unknown.isEmpty, "the dashboard queries metrics no service exports: \(unknown.sorted())")
        #expect(expressions.contains { $0.contains("http_server_request_duration") }, "the ingest panels")

        let provider = try #require(try Self.documents("deploy/grafana/provisioning/dashboards/settle.yml").first)
        let folder = try #require(((provider["providers"] as? [[String: Any]])?.first?["options"] as? [String: Any])?["path"] as? String)
        #expect(folder == "/etc/grafana/provisioning/dashboards/settle")
        #expect(try Self.text("docker-compose.yml").contains("./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"))
    }

    @Test("Every metric the alert rules use is one a Settle service exports, and compose mounts the rules where prometheus.yml loads them")
    func alertRulesUseExportedMetrics() throws {
        let sources = try Self.codeSources()
        let rules = try String(contentsOf: Self.root.appendingPathComponent("deploy/prometheus/rules.yml"), encoding: .utf8)
        let expressions = try #require(try Self.documents("deploy/prometheus/rules.yml").first)["groups"] as? [[String: Any]] ?? []
        var names: Set<String> = []
        for group in expressions {
            for rule in (group["rules"] as? [[String: Any]]) ?? [] {
                names.formUnion(try Self.settleMetrics(in: try #require(rule["expr"] as? String)))
            }
        }
        #expect(names.count >= 4, "\(names)")
        let unknown = names.filter { !Self.exported($0, sources: sources) }
        #expect(unknown.isEmpty, "rules.yml uses metrics no service exports: \(unknown.sorted()) (\(rules.count) bytes of rules)")
        let config = try #require(try Self.documents("deploy/prometheus/prometheus.yml").first)
        #expect((config["rule_files"] as? [String]) == ["rules.yml"])
        let compose = try String(contentsOf: Self.root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        #expect(compose.contains("./deploy/prometheus/rules.yml:/etc/prometheus/rules.yml:ro"))
    }

    @Test("Every Deployment probes the port its service listens on and has requests and limits")
    func deployments() throws {
        let objects = try Self.kubernetesObjects()
        let deployments = objects.filter { Self.kind($0) == "Deployment" }
        #expect(Set(deployments.map(Self.name)) == Set(Self.portVariables.keys))
        for deployment in deployments {
            let name = Self.name(deployment)
            let pod = try #require(Self.podSpec(deployment))
            // Otherwise a Service named settle-api puts SETTLE_API_PORT=tcp://… into the pods.
            #expect(pod["enableServiceLinks"] as? Bool == false, "\(name) takes in Kubernetes' service variables")
            let container = try #require(Self.containers(deployment).first)
            #expect(container["image"] as? String == "settle:latest" && container["imagePullPolicy"] as? String == "IfNotPresent")
            let variable = try #require(Self.service(running: (container["command"] as? [String]) ?? []).flatMap { Self.portVariables[$0] })
            let environment = try Self.kubernetesEnvironment(of: name)
            #expect(environment["SETTLE_HOST"] == "0.0.0.0", "\(name) binds loopback only: probes cannot reach it")
            let port = try #require(environment[variable].flatMap { Int($0) }, "\(name) does not set \(variable)")
            var named: [String: Int] = [:]
            for entry in (container["ports"] as? [[String: Any]]) ?? [] {
                if let key = entry["name"] as? String, let number = entry["containerPort"] as? Int { named[key] = number }
            }
            for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
                let get = (container[probe] as? [String: Any])?["httpGet"] as? [String: Any]
                #expect(get?["path"] as? String == path, "\(name)'s \(probe) does not GET \(path)")
                let probed = get?["port"] as? Int ?? (get?["port"] as? String).flatMap { named[$0] }
                #expect(probed == port, "\(name)'s \(probe) asks port \(probed.map(String.init) ?? "none"), it listens on \(port)")
            }
            for bound in ["requests", "limits"] {
                let values = (container["resources"] as? [String: Any])?[bound] as? [String: Any]
                #expect(values?["cpu"] != nil && values?["memory"] != nil, "\(name) has no cpu and memory \(bound)")
            }
        }
        let scaled = objects.filter { Self.kind($0) == "HorizontalPodAutoscaler" }
            .compactMap { (($0["spec"] as? [String: Any])?["scaleTargetRef"] as? [String: Any])?["name"] as? String }
        #expect(Set(scaled) == ["settle-api", "settle-worker"])
    }

    @Test("Every reference in k8s/ names an object defined there")
    func references() throws {
        let objects = try Self.kubernetesObjects()
        let defined = Set(objects.map { "\(Self.kind($0))/\(Self.name($0))" })
        var references: [String] = []
        Self.collectReferences(objects, into: &references)
        #expect(references.contains("Deployment/settle-worker") && references.contains("Secret/settle-database"))
        for reference in references {
            #expect(defined.contains(reference), "\(reference) is referred to but not defined in k8s/")
        }
        let podLabels = objects.compactMap { object in
            (((object["spec"] as? [String: Any])?["template"] as? [String: Any])?["metadata"] as? [String: Any])?["labels"] as? [String: String]
        }
        for service in objects where ["Service", "PodDisruptionBudget"].contains(Self.kind(service)) {
            let spec = service["spec"] as? [String: Any]
            let selector = (spec?["selector"] as? [String: String]) ?? ((spec?["selector"] as? [String: Any])?["matchLabels"] as? [String: String]) ?? [:]
            #expect(!selector.isEmpty && podLabels.contains { labels in selector.allSatisfy { labels[$0.key] == $0.value } },
                    "\(Self.kind(service)) \(Self.name(service)) selects no pod")
        }
    }

    @Test("kustomization.yaml lists every manifest in k8s/ and nothing else")
    func kustomization() throws {
        let kustomization = try #require(try Self.documents("k8s/kustomization.yaml").first)
        let listed = (kustomization["resources"] as? [String]) ?? []
        #expect(kustomization["namespace"] as? String == "settle")
        #expect(listed.count == Set(listed).count, "a file is listed twice")
        #expect(Set(listed) == Set(try Self.manifestFiles()))
    }

    @Test("The image builds every executable product and ships the resource bundles")
    func dockerfile() throws {
        let manifest = try Self.text("Package.swift")
        let executables = Set(manifest.matches(of: #/\.executable\(\s*name:\s*"([^"]+)"/#).map { String($0.1) })
        let dockerfile = try Self.text("deploy/Dockerfile")
        let products = try #require(dockerfile.firstMatch(of: #/ARG PRODUCTS="([^"]*)"/#)).1.split(separator: " ").map(String.init)
        #expect(executables.count >= 5)
        #expect(Set(products) == executables)
        let staticBuild = dockerfile.contains("--static-swift-stdlib")
        let copiesBundles = dockerfile.contains("--show-bin-path") && dockerfile.contains("-name '*.resources'")
        #expect(staticBuild)
        #expect(copiesBundles, "the resource bundles are not copied beside the executables")
        // Each target with resources (its bundle is <package>_<target>.resources) is checked by name.
        let declarations = manifest.matches(of: #/\.(target|executableTarget|testTarget|systemLibrary)\(\s*name:\s*"(\w+)"/#)
        for (index, declaration) in declarations.enumerated() where declaration.1 != "testTarget" {
            let end = index + 1 < declarations.count ? declarations[index + 1].range.lowerBound : manifest.endIndex
            if manifest[declaration.range.upperBound..<end].contains("resources:") {
                let checked = dockerfile.contains("Settle_\(declaration.2).resources")
                #expect(checked, "the image build does not check that \(declaration.2)'s resource bundle is there")
            }
        }
    }

    // MARK: - Reading the files

    /// `host:port` of every target a Prometheus configuration scrapes through DNS or lists.
    static func scrapeTargets(_ path: String) throws -> Set<String> {
        let config = try #require(try documents(path).first)
        var targets: Set<String> = []
        for job in (config["scrape_configs"] as? [[String: Any]]) ?? [] {
            #expect((job["metrics_path"] as? String ?? "/metrics") == "/metrics")
            for discovery in (job["dns_sd_configs"] as? [[String: Any]]) ?? [] {
                guard let port = discovery["port"] as? Int else { continue }
                targets.formUnion(((discovery["names"] as? [String]) ?? []).map { "\($0):\(port)" })
            }
            for list in (job["static_configs"] as? [[String: Any]]) ?? [] {
                targets.formUnion((list["targets"] as? [String]) ?? [])
            }
        }
        return targets
    }

    /// A Deployment's container environment in k8s/: its ConfigMaps', then its own values.
    static func kubernetesEnvironment(of deployment: String) throws -> [String: String] {
        let objects = try kubernetesObjects()
        let object = try #require(objects.first { kind($0) == "Deployment" && name($0) == deployment })
        let container = try #require(containers(object).first)
        var environment: [String: String] = [:]
        for source in (container["envFrom"] as? [[String: Any]]) ?? [] {
            let map = (source["configMapRef"] as? [String: Any])?["name"] as? String
            let data = objects.first { kind($0) == "ConfigMap" && name($0) == map }?["data"] as? [String: Any]
            environment.merge((data ?? [:]).mapValues { "\($0)" }) { $1 }
        }
        for entry in (container["env"] as? [[String: Any]]) ?? [] {
            if let key = entry["name"] as? String, let value = entry["value"] { environment[key] = "\(value)" }
        }
        return environment
    }

    /// The `--public-url` of a `settle sink …` command.
    static func publicURL(of command: Any?) -> String? {
        guard let words = command as? [String], let index = words.firstIndex(of: "--public-url"), index + 1 < words.count else { return nil }
        return words[index + 1]
    }

    /// Whether an IPv4 address lies in a network such as 172.30.89.0/24.
    static func contains(subnet: String, address: String) -> Bool {
        func value(_ text: Substring) -> UInt32? {
            let parts = text.split(separator: ".").compactMap { UInt32($0) }
            guard parts.count == 4, parts.allSatisfy({ $0 < 256 }) else { return nil }
            return parts.reduce(0) { $0 << 8 | $1 }
        }
        let pieces = subnet.split(separator: "/")
        guard pieces.count == 2, let base = value(pieces[0]), let bits = UInt32(pieces[1]), bits <= 32,
              let host = value(Substring(address)) else { return false }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return base & mask == host & mask
    }

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// Every document of a YAML file (Kubernetes files hold several).
    /// The Settle metrics a PromQL expression reads: not the recording rules' own `settle:…:…`
    /// names, and a histogram's series (`_bucket`, `_count`, `_sum`) by the histogram's name.
    static func settleMetrics(in expression: String) throws -> Set<String> {
        let regex = try NSRegularExpression(pattern: "(?<![a-z_:])settle_[a-z_]+(?![a-z_:])")
        var names: Set<String> = []
        for match in regex.matches(in: expression, range: NSRange(expression.startIndex..., in: expression)) {
            var name = String(expression[Range(match.range, in: expression)!])
            for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
            names.insert(name)
        }
        return names
    }

    /// Whether the code names the metric (a metric's label is a string literal where it is made).
    static func exported(_ name: String, sources: String) -> Bool {
        sources.contains("\"\(name)\"")
    }

    static func documents(_ path: String) throws -> [[String: Any]] {
        var sequence = try Yams.load_all(yaml: text(path))
        var documents: [[String: Any]] = []
        while let document = sequence.next() {
            documents.append(try #require(document as? [String: Any], "a document of \(path) is not a mapping"))
        }
        if let error = sequence.error { throw error }
        return documents
    }

    static func manifestFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("k8s").path)
            .filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" }.sorted()
    }

    static func kubernetesObjects() throws -> [[String: Any]] {
        try manifestFiles().flatMap { try documents("k8s/\($0)") }
    }

    static func kind(_ object: [String: Any]) -> String { object["kind"] as? String ?? "" }
    static func name(_ object: [String: Any]) -> String { (object["metadata"] as? [String: Any])?["name"] as? String ?? "" }

    static func podSpec(_ object: [String: Any]) -> [String: Any]? {
        ((object["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
    }

    static func containers(_ object: [String: Any]) -> [[String: Any]] {
        let pod = podSpec(object)
        return ((pod?["initContainers"] as? [[String: Any]]) ?? []) + ((pod?["containers"] as? [[String: Any]]) ?? [])
    }

    /// `Kind/name` of every configMapRef, configMapKeyRef, secretRef, secretKeyRef and scaleTargetRef.
    static func collectReferences(_ value: Any, into references: inout [String]) {
        if let mapping = value as? [String: Any] {
            for (key, child) in mapping {
                let kind: String? = switch key {
                case "configMapRef", "configMapKeyRef": "ConfigMap"
                case "secretRef", "secretKeyRef": "Secret"
                case "scaleTargetRef": (child as? [String: Any])?["kind"] as? String
                default: nil
                }
                if let kind, let name = (child as? [String: Any])?["name"] as? String { references.append("\(kind)/\(name)") }
                collectReferences(child, into: &references)
            }
        } else if let sequence = value as? [Any] {
            for child in sequence { collectReferences(child, into: &references) }
        }
    }

    static func composeServices() throws -> [String: [String: Any]] {
        let compose = try #require(try documents("docker-compose.yml").first)
        return try #require(compose["services"] as? [String: [String: Any]])
    }

    static func environment(of service: [String: Any]) throws -> [String: String] {
        guard let environment = service["environment"] else { return [:] }
        return try #require(environment as? [String: Any], "environment in the mapping form").mapValues { "\($0)" }
    }

    static func isOneShot(_ service: [String: Any]) -> Bool { service["restart"] as? String == "no" }

    /// Each long-running service built from deploy/Dockerfile, with the port its environment gives it.
    static func composeServicePorts() throws -> [String: String] {
        var ports: [String: String] = [:]
        for (name, service) in try composeServices() where !isOneShot(service) {
            guard (service["build"] as? [String: Any])?["dockerfile"] as? String == "deploy/Dockerfile" else { continue }
            let command = try #require(service["command"] as? [String], "\(name) names its executable")
            let variable = try #require(Self.service(running: command).flatMap { portVariables[$0] }, "\(name) runs \(command), not a service")
            let port: String = try #require(try environment(of: service)[variable], "\(name) does not set \(variable)")
            ports[name] = port
        }
        return ports
    }
}
