import ArgumentParser
import Foundation

/// Which build of Settle's executables the local stack runs: the directory SwiftPM put them in
/// (`.build/<triple>/debug` or `…/release`).
struct LocalBuild: Sendable, Equatable {
    let directory: URL

    static func == (lhs: LocalBuild, rhs: LocalBuild) -> Bool {
        lhs.directory.resolvingSymlinksInPath().path == rhs.directory.resolvingSymlinksInPath().path
    }

    /// `debug`, `release`, or the directory's name for anything else.
    var configuration: String { directory.lastPathComponent }

    /// The build this `settle` belongs to.
    static var current: LocalBuild {
        LocalBuild(directory: URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
    }

    /// The build a running process was started from, read from `/proc/<pid>/exe`.
    static func of(pid: Int32) -> LocalBuild? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else { return nil }
        // A rebuilt binary shows as "… (deleted)"; the directory is still the build it came from.
        return LocalBuild(directory: URL(fileURLWithPath: target).deletingLastPathComponent())
    }

    func executable(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The release build of the checkout `.settle/` belongs to, brought up to date with
    /// `swift build -c release` (a no-op when nothing changed). Its output goes to `log`.
    static func release(packageRoot: URL, log: URL) async throws -> LocalBuild {
        guard FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("Package.swift").path) else {
            if current.configuration == "release" { return current }
            throw ValidationError("--release builds Settle from its checkout: run it inside the checkout (no Package.swift at \(packageRoot.path))")
        }
        guard let swift = LocalProcess.which("swift") else { throw ValidationError("--release needs `swift` on PATH to build") }
        print("building release executables (swift build -c release; the first build takes several minutes; log: \(log.path))")
        let arguments = ["build", "-c", "release", "--package-path", packageRoot.path]
        try await LocalProcess.runOffPool(swift, arguments, log: log)
        let path = try await LocalProcess.runOffPool(swift, arguments + ["--show-bin-path"])
        return LocalBuild(directory: URL(fileURLWithPath: path.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
