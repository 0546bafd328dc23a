package grok1j.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes small SentencePiece ModelProtos for tests: a protobuf wire-format writer plus the ModelProto field numbers.
 * Defaults describe a valid BPE model with an identity normalizer; tests change one thing at a time.
 */
final class ModelProtoBuilder {
    /** A protobuf message under construction. */
    static final class Message {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Message varint(int field, long value) {
            key(field, 0);
            writeVarint(value);
            return this;
        }

        Message bool(int field, boolean value) {
            return varint(field, value ? 1 : 0);
        }

        Message float32(int field, float value) {
            key(field, 5);
            int bits = Float.floatToRawIntBits(value);
            for (int i = 0; i < 4; i++) {
                out.write(bits >>> (8 * i));
            }
            return this;
        }

        Message bytes(int field, byte[] value) {
            key(field, 2);
            writeVarint(value.length);
            out.writeBytes(value);
            return this;
        }

        Message string(int field, String value) {
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Message message(int field, Message value) {
            return bytes(field, value.toByteArray());
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }

        private void key(int field, int wireType) {
            writeVarint((long) field << 3 | wireType);
        }

        private void writeVarint(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) (value & 0x7F) | 0x80);
                value >>>= 7;
            }
            out.write((int) value);
        }
    }

    private final Message pieces = new Message();
    private Message trainer = new Message().varint(3, SentencePieceModel.BPE).varint(40, 0).varint(41, 1)
            .varint(42, 2);
    private Message normalizer = new Message().string(1, "identity").bool(3, true).bool(4, false);

    /** Adds a piece (ids are assigned in order). */
    ModelProtoBuilder piece(String text, float score, PieceType type) {
        Message piece = new Message().string(1, text).float32(2, score);
        if (type != PieceType.NORMAL) {
            piece.varint(3, type.wireValue);
        }
        pieces.message(1, piece);
        return this;
    }

    /** Adds {@code <unk>} (UNKNOWN), {@code <s>} and {@code </s>} (CONTROL) as ids 0-2. */
    ModelProtoBuilder specialPieces() {
        return piece("<unk>", 0, PieceType.UNKNOWN).piece("<s>", 0, PieceType.CONTROL)
                .piece("</s>", 0, PieceType.CONTROL);
    }

    /** Adds the 256 byte pieces and turns byte_fallback on. */
    ModelProtoBuilder bytePieces() {
        for (int b = 0; b < 256; b++) {
            piece(String.format("<0x%02X>", b), 0, PieceType.BYTE);
        }
        trainer.bool(35, true);
        return this;
    }

    /** Replaces the trainer spec. */
    ModelProtoBuilder trainer(Message trainerSpec) {
        this.trainer = trainerSpec;
        return this;
    }

    /** Appends fields to the trainer spec (a later value of a field wins, as in protobuf). */
    ModelProtoBuilder trainerField(java.util.function.UnaryOperator<Message> edit) {
        trainer = edit.apply(trainer);
        return this;
    }

    /** Appends fields to the normalizer spec. */
    ModelProtoBuilder normalizerField(java.util.function.UnaryOperator<Message> edit) {
        normalizer = edit.apply(normalizer);
        return this;
    }

    byte[] build() {
        Message model = new Message();
        model.out.writeBytes(pieces.toByteArray());
        model.message(2, trainer).message(3, normalizer);
        return model.toByteArray();
    }

    SentencePieceTokenizer tokenizer() throws TokenizerFormatException {
        return new SentencePieceTokenizer(SentencePieceModel.parse(build(), "test.model"));
    }
}
