import Foundation

/// Installs the Debian packages the local stack runs on, when they are missing.
enum DebianPackages {
    static let required = ["postgresql", "redis-server", "kcat"]

    static func missing(_ packages: [String] = required) -> [String] {
        packages.filter { package in
            let output = try? LocalProcess.run("/usr/bin/dpkg-query", ["-W", "-f=${Status}", package], allowFailure: true)
            return !(output ?? "").contains("install ok installed")
        }
    }

    /// - Parameter extra: packages wanted beyond `required` (Prometheus for `settle up --observe`).
    static func ensureInstalled(_ extra: [String] = []) throws {
        let missing = missing(required + extra)
        guard !missing.isEmpty else { return }
        print("installing Debian packages: \(missing.joined(separator: " "))")
        let asRoot = getuid() == 0
        let prefix = asRoot ? [] : ["/usr/bin/sudo"]
        func apt(_ arguments: [String]) throws {
            let command = prefix + ["/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "apt-get"] + arguments
            try LocalProcess.run(command[0], Array(command.dropFirst()))
        }
        try apt(["update", "-qq"])
        try apt(["install", "-y", "-qq"] + missing)
    }
}
