import Foundation
import Hummingbird
import SettleKafka

/// The development broker's fault-injection API, on loopback only:
///
///     GET    /healthz
///     GET    /cluster                              bootstrap servers and broker count
///     POST   /topics/{name}?partitions=N           create a topic
///     POST   /brokers/{id}/down | /brokers/{id}/up take a broker off the network and back
///     POST   /brokers/{id}/rtt?ms=N                add round-trip latency
///     POST   /errors/{apiKey}?codes=6,7            next requests of that Kafka API fail with these codes
///     DELETE /errors/{apiKey}                      clear them
enum BrokerAdminRouter {
    static func add(to router: Router<BasicRequestContext>, cluster: KafkaMockCluster) {
        // The development broker keeps messages in memory: it holds nothing older than this.
        let startedAt = Date().timeIntervalSince1970
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/cluster") { _, _ in
            "{\"bootstrap_servers\":\"\(cluster.bootstrapServers)\",\"brokers\":\(cluster.brokerCount),\"started_at\":\(startedAt)}\n"
        }
        router.post("/topics/:name") { request, context in
            let name = try context.parameters.require("name")
            let partitions = request.uri.queryParameters.get("partitions", as: Int.self) ?? 12
            guard (1...1000).contains(partitions) else { throw HTTPError(.badRequest, message: "partitions must be 1 to 1000") }
            try cluster.createTopic(name, partitions: partitions)
            return "created \(name) with \(partitions) partitions\n"
        }
        router.post("/brokers/:id/down") { _, context in
            let id = try brokerID(context, cluster)
            try cluster.setBrokerDown(id)
            return "broker \(id) down\n"
        }
        router.post("/brokers/:id/up") { _, context in
            let id = try brokerID(context, cluster)
            try cluster.setBrokerUp(id)
            return "broker \(id) up\n"
        }
        router.post("/brokers/:id/rtt") { request, context in
            let id = try brokerID(context, cluster)
            guard let milliseconds = request.uri.queryParameters.get("ms", as: Int32.self), milliseconds >= 0 else {
                throw HTTPError(.badRequest, message: "ms must be a whole number of milliseconds")
            }
            try cluster.setRoundTripTime(id, milliseconds: milliseconds)
            return "broker \(id) rtt \(milliseconds) ms\n"
        }
        router.post("/errors/:apiKey") { request, context in
            let apiKey = try apiKey(context)
            let codes = (request.uri.queryParameters.get("codes") ?? "").split(separator: ",").compactMap { Int32($0) }
            guard !codes.isEmpty else { throw HTTPError(.badRequest, message: "codes must list Kafka error codes, e.g. codes=6,7") }
            cluster.pushRequestErrors(apiKey: apiKey, errors: codes)
            return "queued \(codes.count) errors for API \(apiKey)\n"
        }
        router.delete("/errors/:apiKey") { _, context in
            let apiKey = try apiKey(context)
            cluster.clearRequestErrors(apiKey: apiKey)
            return "cleared errors for API \(apiKey)\n"
        }
    }

    private static func brokerID(_ context: BasicRequestContext, _ cluster: KafkaMockCluster) throws -> Int32 {
        guard let id = context.parameters.get("id", as: Int32.self), (1...Int32(cluster.brokerCount)).contains(id) else {
            throw HTTPError(.badRequest, message: "broker id must be 1 to \(cluster.brokerCount)")
        }
        return id
    }

    private static func apiKey(_ context: BasicRequestContext) throws -> Int16 {
        guard let key = context.parameters.get("apiKey", as: Int16.self), key >= 0 else {
            throw HTTPError(.badRequest, message: "apiKey must be a Kafka API key number (0 = Produce)")
        }
        return key
    }
}
