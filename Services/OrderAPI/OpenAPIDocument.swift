import Foundation

/// openapi.yaml, shipped with the executable and served at `/openapi.yaml`.
enum OpenAPIDocument {
    static let bytes: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let data = try? Data(contentsOf: url) else {
            return Array("openapi.yaml is missing from the build's resources\n".utf8)
        }
        return Array(data)
    }()
}
