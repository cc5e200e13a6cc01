// swift-tools-version:6.1
import PackageDescription

/// Every Swift target is compiled with the strictest settings the toolchain offers:
/// Swift 6 language mode (full strict concurrency) and `any` spelled out for existentials.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Settle",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "settle-api", targets: ["OrderAPI"]),
        .executable(name: "settle-relay", targets: ["OutboxRelay"]),
        .executable(name: "settle-worker", targets: ["PaymentWorker"]),
        .executable(name: "settle-dispatcher", targets: ["WebhookDispatcher"]),
        .executable(name: "settle", targets: ["SettleCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // Spans exported over OTLP/HTTP when configured; no gRPC stack.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // C libraries from Debian (librdkafka-dev, libhiredis-dev): module maps only.
        .systemLibrary(
            name: "Crdkafka",
            path: "Shared/Crdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "Chiredis",
            path: "Shared/Chiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),

        // Shared libraries.
        .systemLibrary(
            name: "CSystemRandom",
            path: "Shared/CSystemRandom"
        ),
        .target(
            name: "SettleDomain",
            dependencies: ["CSystemRandom", .product(name: "Crypto", package: "swift-crypto")],
            path: "Shared/SettleDomain",
            swiftSettings: strictSettings
        ),
        .target(
            name: "SettleRuntime",
            dependencies: [
                "SettleKafka", "SettleRedis", "SettleStorage", "SettleDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            path: "Shared/SettleRuntime",
            swiftSettings: strictSettings
        ),
        .target(
            name: "SettleKafka",
            dependencies: [
                "Crdkafka",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/SettleKafka",
            swiftSettings: strictSettings
        ),
        .target(
            name: "SettleRedis",
            dependencies: [
                "Chiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/SettleRedis",
            swiftSettings: strictSettings
        ),
        .target(
            name: "SettleStorage",
            dependencies: [
                "SettleDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/SettleStorage",
            resources: [.copy("Migrations")],
            swiftSettings: strictSettings
        ),

        // Services.
        .executableTarget(
            name: "OrderAPI",
            dependencies: [
                "SettleRuntime", "SettleStorage", "SettleRedis", "SettleKafka", "SettleDomain",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Services/OrderAPI",
            resources: [.copy("openapi.yaml")],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "OutboxRelay",
            dependencies: [
                "SettleRuntime", "SettleStorage", "SettleKafka", "SettleDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Services/OutboxRelay",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "PaymentWorker",
            dependencies: [
                "SettleRuntime", "SettleStorage", "SettleKafka", "SettleDomain", "SettleRedis",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/PaymentWorker",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "WebhookDispatcher",
            dependencies: [
                "SettleRuntime", "SettleStorage", "SettleKafka", "SettleDomain",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/WebhookDispatcher",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "SettleCLI",
            dependencies: [
                "SettleRuntime", "SettleStorage", "SettleRedis", "SettleKafka", "SettleDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Services/Settle",
            swiftSettings: strictSettings
        ),

        // Tests run against a real PostgreSQL, Redis and the development broker (see README).
        .target(
            name: "SettleTestSupport",
            dependencies: [
                "SettleRuntime", "SettleKafka", "SettleRedis", "SettleStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/SettleTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SettleKafkaTests",
            dependencies: ["SettleKafka", "SettleTestSupport", "SettleDomain"],
            path: "Tests/SettleKafkaTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SettleRedisTests",
            dependencies: ["SettleRedis", "SettleTestSupport"],
            path: "Tests/SettleRedisTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SettleStorageTests",
            dependencies: [
                "SettleStorage", "SettleTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/SettleStorageTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OrderAPITests",
            dependencies: [
                "OrderAPI", "SettleTestSupport", "SettleDomain", "SettleStorage", "SettleRedis",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/OrderAPITests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OutboxRelayTests",
            dependencies: [
                "SettleTestSupport", "SettleKafka", "SettleStorage", "SettleDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/OutboxRelayTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PaymentWorkerTests",
            dependencies: [
                "SettleTestSupport", "SettleKafka", "SettleStorage", "SettleDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Tests/PaymentWorkerTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WebhookDispatcherTests",
            dependencies: [
                "SettleTestSupport", "SettleKafka", "SettleStorage", "SettleDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/WebhookDispatcherTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ProcessorTests",
            dependencies: [
                "SettleTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Tests/ProcessorTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SettleRuntimeTests",
            dependencies: ["SettleRuntime", "SettleTestSupport", "SettleDomain"],
            path: "Tests/SettleRuntimeTests",
            swiftSettings: strictSettings
        ),
        // Offline checks of docker-compose.yml, k8s/ and deploy/ (no stack needed).
        .testTarget(
            name: "DeployTests",
            dependencies: ["SettleDomain", .product(name: "Yams", package: "Yams")],
            path: "Tests/DeployTests",
            swiftSettings: strictSettings
        ),
    ]
)
