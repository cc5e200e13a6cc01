import Foundation

/// The migrations shipped as resources of this module, in version order.
public enum MigrationCatalog {
    public static func all() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError.missingResources
        }
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
        return try files.map { file in
            let name = file.deletingPathExtension().lastPathComponent
            guard let version = Int(name.prefix { $0.isNumber }) else { throw MigrationError.badFileName(name) }
            return Migration(version: version, name: name, sql: try String(contentsOf: file, encoding: .utf8))
        }
        .sorted { $0.version < $1.version }
    }
}

public enum MigrationError: Error, CustomStringConvertible {
    case missingResources
    case badFileName(String)

    public var description: String {
        switch self {
        case .missingResources: "the SQL migrations are missing from the build's resources"
        case .badFileName(let name): "migration file \(name) does not start with a version number"
        }
    }
}
