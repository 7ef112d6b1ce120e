import NIOCore
import SteleKafkaProtocol

/// Splits the byte stream into request frames: an int32 size, then that many bytes.
/// A negative size or one above `maxFrameBytes` closes the connection: nothing that large is
/// buffered on a client's word.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxFrameBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 8, Int(size) <= maxFrameBytes else {
            throw KafkaProtocolError.invalid("frame size \(size) outside 8...\(maxFrameBytes)")
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Writes response frames (already length-prefixed) as they are.
struct KafkaFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = ByteBuffer
    func encode(data: ByteBuffer, out: inout ByteBuffer) {
        var data = data
        out.writeBuffer(&data)
    }
}
