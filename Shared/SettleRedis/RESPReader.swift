import Chiredis

/// hiredis's incremental RESP parser. Used only from one channel's event loop.
final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        reader = redisReaderCreate()
    }

    deinit {
        redisReaderFree(reader)
    }

    func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw .protocolViolation(errorText)
        }
    }

    /// The next complete reply, or nil when more bytes are needed.
    func nextReply() throws(RedisError) -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw .protocolViolation(errorText) }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.convert(reply.assumingMemoryBound(to: redisReply.self))
    }

    private var errorText: String {
        withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let value = reply.pointee
        func text() -> [UInt8] {
            guard let str = value.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: value.len))
        }
        switch value.type {
        case REDIS_REPLY_STRING: return .bulk(text())
        case REDIS_REPLY_STATUS: return .status(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            return .array((0..<value.elements).map { convert(value.element[$0]!) })
        default: return .null
        }
    }

    /// Encodes a command with hiredis's own formatter.
    static func format(_ arguments: [[UInt8]]) -> [UInt8] {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        var storage: [UnsafeMutableBufferPointer<CChar>] = []
        defer { storage.forEach { $0.deallocate() } }
        for argument in arguments {
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(argument.count, 1))
            argument.withUnsafeBytes { source in
                if !source.isEmpty { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source) }
            }
            storage.append(buffer)
            pointers.append(UnsafePointer(buffer.baseAddress))
            lengths.append(argument.count)
        }
        var target: UnsafeMutablePointer<CChar>?
        let length = redisFormatCommandArgv(&target, Int32(arguments.count), &pointers, lengths)
        guard length > 0, let target else { return [] }
        defer { redisFreeCommand(target) }
        return Array(UnsafeRawBufferPointer(start: target, count: Int(length)))
    }
}
