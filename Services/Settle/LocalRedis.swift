import ArgumentParser
import Foundation

/// The local stack's Redis: loopback only, no persistence (it holds caches and rate limits).
struct LocalRedis {
    let layout: StackLayout

    var pid: Int32? { LocalProcess.livePID(from: layout.redisPIDFile, expecting: "redis-server") }

    /// Starts it unless it runs; `redis-server --daemonize` returns once it listens.
    func start() throws {
        if pid != nil { return }
        guard let redisServer = LocalProcess.which("redis-server") else { throw ValidationError("redis-server is not installed") }
        try LocalProcess.run(redisServer, [
            "--port", "\(layout.redisPort)", "--bind", "127.0.0.1", "--daemonize", "yes",
            "--pidfile", layout.redisPIDFile.path, "--dir", layout.redisData.path,
            "--logfile", layout.log("redis").path, "--save", "", "--appendonly", "no",
        ])
    }
}
