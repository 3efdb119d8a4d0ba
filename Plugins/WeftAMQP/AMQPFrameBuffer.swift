/// Outgoing AMQP 0-9-1 frames encoded back to back, so that a batch of publishes leaves in one
/// write instead of librabbitmq's three system calls per message (method, content header, body),
/// and a batch of acknowledgements in one write instead of one each.
///
/// Only `basic.publish` and `basic.ack` are encoded here, and publishes only in the shape
/// Weft's fast path needs: no headers table, a delivery mode and a priority. Anything else goes
/// through librabbitmq.
/// Pure: the bytes are written by ``AMQPLink``.
struct AMQPFrameBuffer {
    /// The frames encoded so far.
    private(set) var bytes: [UInt8] = []

    /// The largest frame the connection negotiated (AMQP's `frame-max`, header and end
    /// included); a body longer than a frame allows is split over several body frames.
    let frameMax: Int

    init(frameMax: Int) {
        // 0 means "no limit" in AMQP; RabbitMQ's default, 128 KiB, keeps frames sane then.
        self.frameMax = frameMax > 8 ? frameMax : 131_072
    }

    var isEmpty: Bool { bytes.isEmpty }

    /// Forgets the frames (after they were written), keeping a modest allocation for the next batch.
    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: bytes.capacity <= Self.retainedCapacity)
    }

    /// Above this, the buffer's memory is given back after a write.
    static let retainedCapacity = 256 * 1024

    /// Property flags: delivery-mode and priority.
    private static let deliveryModeAndPriority = UInt16(AMQPMethod.deliveryModeFlag | AMQPMethod.priorityFlag)

    /// Appends a `basic.publish` with its content header and body frames. Returns false (and
    /// appends nothing) when the exchange or routing key is longer than a short string allows.
    mutating func appendPublish(
        channel: UInt16, exchange: String, routingKey: String, mandatory: Bool,
        deliveryMode: UInt8, priority: UInt8, body: [UInt8]
    ) -> Bool {
        let exchangeLength = exchange.utf8.count
        let routingKeyLength = routingKey.utf8.count
        guard exchangeLength <= 255, routingKeyLength <= 255 else { return false }
        let bodyFrameCapacity = frameMax - 8
        let bodyFrames = (body.count + bodyFrameCapacity - 1) / bodyFrameCapacity
        let methodSize = 4 + 2 + 1 + exchangeLength + 1 + routingKeyLength + 1
        bytes.reserveCapacity(bytes.count + 8 + methodSize + 8 + 16 + bodyFrames * 8 + body.count)

        // Method frame: class, method, reserved short, exchange, routing key, mandatory/immediate bits.
        beginFrame(AMQPMethod.frameMethod, channel: channel, size: methodSize)
        append32(AMQPMethod.basicPublish)
        append16(0)
        bytes.append(UInt8(exchangeLength))
        bytes.append(contentsOf: exchange.utf8)
        bytes.append(UInt8(routingKeyLength))
        bytes.append(contentsOf: routingKey.utf8)
        bytes.append(mandatory ? 1 : 0)
        bytes.append(AMQPMethod.frameEnd)

        // Content header frame: class, weight, body size, property flags, the two properties.
        beginFrame(AMQPMethod.frameHeader, channel: channel, size: 16)
        append16(UInt16(AMQPMethod.basicPublish >> 16))
        append16(0)
        append64(UInt64(body.count))
        append16(Self.deliveryModeAndPriority)
        bytes.append(deliveryMode)
        bytes.append(priority)
        bytes.append(AMQPMethod.frameEnd)

        // Body frames.
        var start = 0
        while start < body.count {
            let end = min(body.count, start + bodyFrameCapacity)
            beginFrame(AMQPMethod.frameBody, channel: channel, size: end - start)
            bytes.append(contentsOf: body[start..<end])
            bytes.append(AMQPMethod.frameEnd)
            start = end
        }
        return true
    }

    /// Appends a `basic.ack` of delivery `tag` (with `multiple`, of every delivery up to it).
    mutating func appendAck(channel: UInt16, tag: UInt64, multiple: Bool) {
        beginFrame(AMQPMethod.frameMethod, channel: channel, size: 13)
        append32(AMQPMethod.basicAck)
        append64(tag)
        bytes.append(multiple ? 1 : 0)
        bytes.append(AMQPMethod.frameEnd)
    }

    private mutating func beginFrame(_ type: UInt8, channel: UInt16, size: Int) {
        bytes.append(type)
        append16(channel)
        append32(UInt32(size))
    }

    private mutating func append16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    private mutating func append32(_ value: UInt32) {
        append16(UInt16(truncatingIfNeeded: value >> 16))
        append16(UInt16(truncatingIfNeeded: value))
    }

    private mutating func append64(_ value: UInt64) {
        append32(UInt32(truncatingIfNeeded: value >> 32))
        append32(UInt32(truncatingIfNeeded: value))
    }
}
