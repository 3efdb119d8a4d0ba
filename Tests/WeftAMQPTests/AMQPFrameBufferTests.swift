import CRabbitMQ
import Testing

@testable import WeftAMQP

@Suite("Publishes and acknowledgements encoded for one write (AMQPFrameBuffer)")
struct AMQPFrameBufferTests {
    /// A frame read back from the buffer.
    private struct Frame {
        var type: UInt8
        var channel: UInt16
        var payload: [UInt8]
    }

    /// Splits `bytes` into frames, checking each one's size and end octet.
    private func frames(_ bytes: [UInt8]) throws -> [Frame] {
        var frames: [Frame] = []
        var offset = 0
        while offset < bytes.count {
            try #require(bytes.count - offset >= 8)
            let channel = UInt16(bytes[offset + 1]) << 8 | UInt16(bytes[offset + 2])
            let size = bytes[offset + 3..<offset + 7].reduce(0) { $0 << 8 | Int($1) }
            try #require(offset + 7 + size < bytes.count)
            #expect(bytes[offset + 7 + size] == 0xCE, "frame end octet")
            frames.append(Frame(type: bytes[offset], channel: channel, payload: Array(bytes[offset + 7..<offset + 7 + size])))
            offset += 8 + size
        }
        return frames
    }

    /// librabbitmq's own encoding of a `basic.publish` method's arguments.
    private func libraryMethod(exchange: String, routingKey: String, mandatory: Bool) -> [UInt8] {
        var exchangeBytes = Array(exchange.utf8)
        var routingKeyBytes = Array(routingKey.utf8)
        return exchangeBytes.withUnsafeMutableBytes { exchangePointer in
            routingKeyBytes.withUnsafeMutableBytes { routingKeyPointer in
                var method = amqp_basic_publish_t(
                    ticket: 0, exchange: amqp_bytes_t(len: exchangePointer.count, bytes: exchangePointer.baseAddress),
                    routing_key: amqp_bytes_t(len: routingKeyPointer.count, bytes: routingKeyPointer.baseAddress),
                    mandatory: mandatory ? 1 : 0, immediate: 0)
                var buffer = [UInt8](repeating: 0, count: 1024)
                let length = buffer.withUnsafeMutableBytes { out in
                    amqp_encode_method(AMQPMethod.basicPublish, &method, amqp_bytes_t(len: out.count, bytes: out.baseAddress))
                }
                return Array(buffer.prefix(Int(length)))
            }
        }
    }

    /// librabbitmq's own encoding of the properties (flags and values) Weft publishes with.
    private func libraryProperties(deliveryMode: UInt8, priority: UInt8) -> [UInt8] {
        var properties = amqp_basic_properties_t()
        properties._flags = AMQPMethod.deliveryModeFlag | AMQPMethod.priorityFlag
        properties.delivery_mode = deliveryMode
        properties.priority = priority
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = buffer.withUnsafeMutableBytes { out in
            amqp_encode_properties(UInt16(AMQP_BASIC_CLASS), &properties, amqp_bytes_t(len: out.count, bytes: out.baseAddress))
        }
        return Array(buffer.prefix(Int(length)))
    }

    @Test("A publish is a method frame, a content header and a body frame, encoded as librabbitmq encodes them")
    func matchesLibrabbitmq() throws {
        var buffer = AMQPFrameBuffer(frameMax: 131_072)
        let body = (0..<300).map { UInt8($0 % 251) }
        let appended = buffer.appendPublish(
            channel: 1, exchange: "weft", routingKey: "weft.jobs", mandatory: true, deliveryMode: 2, priority: 7, body: body)
        #expect(appended)
        let frames = try frames(buffer.bytes)
        try #require(frames.count == 3)
        #expect(frames.map(\.type) == [1, 2, 3])
        #expect(frames.allSatisfy { $0.channel == 1 })
        // Method: its 32-bit id, then the arguments exactly as librabbitmq writes them.
        #expect(Array(frames[0].payload.prefix(4)) == [0, 60, 0, 40])
        #expect(Array(frames[0].payload.dropFirst(4)) == libraryMethod(exchange: "weft", routingKey: "weft.jobs", mandatory: true))
        // Content header: class, weight, body size, then the properties as librabbitmq writes them.
        let header = frames[1].payload
        #expect(Array(header.prefix(4)) == [0, 60, 0, 0])
        #expect(header[4..<12].reduce(0) { $0 << 8 | Int($1) } == 300)
        #expect(Array(header.dropFirst(12)) == libraryProperties(deliveryMode: 2, priority: 7))
        #expect(frames[2].payload == body)
    }

    @Test("A body longer than a frame allows is split over body frames; an empty body has none")
    func bodySplitAndEmpty() throws {
        var buffer = AMQPFrameBuffer(frameMax: 100)  // 92 bytes of body a frame
        let body = (0..<250).map { UInt8($0 % 256) }
        let first = buffer.appendPublish(channel: 3, exchange: "", routingKey: "q", mandatory: false, deliveryMode: 1, priority: 0, body: body)
        let second = buffer.appendPublish(channel: 3, exchange: "", routingKey: "q", mandatory: false, deliveryMode: 1, priority: 0, body: [])
        #expect(first && second)
        let frames = try frames(buffer.bytes)
        #expect(frames.map(\.type) == [1, 2, 3, 3, 3, 1, 2])
        #expect(frames[2...4].map(\.payload.count) == [92, 92, 66])
        #expect(Array(frames[2...4].map(\.payload).joined()) == body)
        #expect(frames[6].payload[4..<12].allSatisfy { $0 == 0 }, "the empty body's size is 0")
        #expect(Array(frames[5].payload.dropFirst(4)) == libraryMethod(exchange: "", routingKey: "q", mandatory: false))
    }

    @Test("An acknowledgement is one method frame, encoded as librabbitmq encodes it")
    func acknowledgement() throws {
        var buffer = AMQPFrameBuffer(frameMax: 131_072)
        buffer.appendAck(channel: 7, tag: 0x0102_0304_0506_0708, multiple: true)
        buffer.appendAck(channel: 7, tag: 9, multiple: false)
        let frames = try frames(buffer.bytes)
        #expect(frames.map(\.type) == [1, 1] && frames.allSatisfy { $0.channel == 7 })
        for (frame, (tag, multiple)) in zip(frames, [(UInt64(0x0102_0304_0506_0708), true), (9, false)]) {
            var method = amqp_basic_ack_t(delivery_tag: tag, multiple: multiple ? 1 : 0)
            var encoded = [UInt8](repeating: 0, count: 64)
            let length = encoded.withUnsafeMutableBytes { out in
                amqp_encode_method(AMQPMethod.basicAck, &method, amqp_bytes_t(len: out.count, bytes: out.baseAddress))
            }
            #expect(Array(frame.payload.prefix(4)) == [0, 60, 0, 80])
            #expect(Array(frame.payload.dropFirst(4)) == Array(encoded.prefix(Int(length))))
        }
    }

    @Test("A name longer than a short string is refused, and nothing is appended")
    func longNameRefused() {
        var buffer = AMQPFrameBuffer(frameMax: 131_072)
        let appended = buffer.appendPublish(
            channel: 1, exchange: "", routingKey: String(repeating: "q", count: 256), mandatory: true, deliveryMode: 2,
            priority: 0, body: [1])
        #expect(!appended)
        #expect(buffer.isEmpty)
    }
}
