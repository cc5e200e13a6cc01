import Foundation

/// What `settle chaos` will do to the stack and when, drawn from a seed, so the same seed and
/// options give the same schedule.
struct ChaosPlan: Sendable {
    enum Action: Sendable, Equatable {
        /// SIGKILL a service of the local stack, restart it after the pause.
        case kill(service: String)
        /// Take a broker of the development broker down, bring it back after the pause.
        case brokerDown(id: Int)
        /// SIGKILL Redis (it keeps nothing on disk), start it again after the pause.
        case restartRedis
        /// Stop PostgreSQL the hard way (immediate shutdown: crash recovery on the next start),
        /// start it again after the pause.
        case restartPostgres
    }

    struct Disruption: Sendable {
        /// Seconds after the load starts.
        var at: Double
        var action: Action
        /// Seconds before it is undone.
        var pause: Double

        /// Disruptions of one target happen one after another, never overlapping.
        var target: String {
            switch action {
            case .kill(let service): service
            case .brokerDown(let id): "broker \(id)"
            case .restartRedis: "Redis"
            case .restartPostgres: "PostgreSQL"
            }
        }

        var summary: String {
            let when = String(format: "%6.1fs", at)
            let pause = String(format: "%.1f s", self.pause)
            return switch action {
            case .kill(let service): "\(when)  SIGKILL \(service), restart after \(pause)"
            case .brokerDown(let id): "\(when)  broker \(id) down for \(pause)"
            case .restartRedis: "\(when)  SIGKILL Redis, start after \(pause)"
            case .restartPostgres: "\(when)  PostgreSQL immediate shutdown, start after \(pause)"
            }
        }
    }

    var disruptions: [Disruption]

    /// `kills` kills of `services` at instants spread over the middle of the load (so the
    /// pipeline has work in flight), plus two broker outages, one Redis and one PostgreSQL
    /// restart when asked for.
    static func make(seed: UInt64, seconds: Double, kills: Int, services: [String], brokers: Int?, redis: Bool, postgres: Bool) -> ChaosPlan {
        var random = SplitMix64(seed: seed)
        func instant() -> Double { Double.random(in: (seconds * 0.05)...(seconds * 0.85), using: &random) }
        var disruptions: [Disruption] = []
        // Victims in a seeded order, each service once before any is killed again: a restarted
        // service needs a few seconds to rejoin its group and take work, and killing it again at
        // once would find nothing in flight.
        var order: [String] = []
        for _ in 0..<kills where !services.isEmpty {
            if order.isEmpty { order = services.shuffled(using: &random) }
            let service = order.removeFirst()
            disruptions.append(Disruption(at: instant(), action: .kill(service: service), pause: Double.random(in: 0.5...3, using: &random)))
        }
        if let brokers, brokers > 0 {
            for _ in 0..<2 {
                let id = Int.random(in: 1...brokers, using: &random)
                disruptions.append(Disruption(at: instant(), action: .brokerDown(id: id), pause: Double.random(in: 2...6, using: &random)))
            }
        }
        if redis {
            disruptions.append(Disruption(at: instant(), action: .restartRedis, pause: Double.random(in: 0.5...2, using: &random)))
        }
        if postgres {
            disruptions.append(Disruption(at: instant(), action: .restartPostgres, pause: Double.random(in: 1...4, using: &random)))
        }
        return ChaosPlan(disruptions: disruptions.sorted { $0.at < $1.at })
    }
}

/// A small seeded generator (SplitMix64): the standard library's generator cannot be seeded.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
