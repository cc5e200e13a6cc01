#if canImport(Glibc)
import CSystemRandom
import Glibc
#endif
import Synchronization

/// Random bytes for ids (UUIDv7, trace and span ids) from the kernel's generator, drawn 4 KiB
/// per `getrandom` call instead of one call per 8 bytes as `SystemRandomNumberGenerator` does:
/// an order's two ids and its trace took seven system calls, a measurable share of the API's
/// CPU per order. The bytes are the kernel's, handed out once each; secrets (API keys, webhook
/// secrets) still draw from the system generator directly.
public enum RandomPool {
    private static let size = 4096

    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: RandomPool.size)
        var next = RandomPool.size
    }

    private static let pool = Mutex(Pool())

    /// Fills `target` with random bytes.
    public static func fill(_ target: UnsafeMutableRawBufferPointer) {
        var offset = 0
        pool.withLock { pool in
            while offset < target.count {
                if pool.next == size {
                    refill(&pool.bytes)
                    pool.next = 0
                }
                let take = min(target.count - offset, size - pool.next)
                pool.bytes.withUnsafeBytes { source in
                    target.baseAddress!.advanced(by: offset)
                        .copyMemory(from: source.baseAddress!.advanced(by: pool.next), byteCount: take)
                }
                pool.next += take
                offset += take
            }
        }
    }

    private static func refill(_ bytes: inout [UInt8]) {
        #if canImport(Glibc)
        bytes.withUnsafeMutableBytes { buffer in
            var filled = 0
            while filled < buffer.count {
                let got = getrandom(buffer.baseAddress!.advanced(by: filled), buffer.count - filled, 0)
                if got > 0 { filled += got } else if errno != EINTR { break }
            }
            if filled < buffer.count {
                // getrandom cannot fail on Linux ≥ 3.17 once the pool is seeded; never hand out zeros.
                var generator = SystemRandomNumberGenerator()
                for index in filled..<buffer.count { buffer[index] = UInt8.random(in: .min ... .max, using: &generator) }
            }
        }
        #else
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        #endif
    }
}
