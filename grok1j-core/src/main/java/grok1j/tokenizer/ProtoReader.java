package grok1j.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * A minimal reader of the protobuf wire format over a byte array: just enough for SentencePiece's
 * {@code ModelProto} (varints, 32/64-bit fixed values, length-delimited strings and nested messages).
 *
 * <p>Every length read from the data is checked against the bytes that remain in the enclosing message before it is
 * used, so truncated or garbage input fails fast with a {@link TokenizerFormatException} naming the source, the
 * message being read and the absolute byte offset; it never loops or allocates more than the input size.
 */
final class ProtoReader {
    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LENGTH_DELIMITED = 2;
    static final int FIXED32 = 5;

    private final byte[] data;
    private final String source;
    private final String message;
    private final int limit;
    private int pos;
    private int wireType = -1;
    private int field;
    private int fieldStart;

    /**
     * @param data    the whole file
     * @param from    offset of the first byte of the message
     * @param to      offset just past its last byte
     * @param source  file name for error messages
     * @param message message type name for error messages, e.g. {@code ModelProto}
     */
    ProtoReader(byte[] data, int from, int to, String source, String message) {
        this.data = data;
        this.pos = from;
        this.limit = to;
        this.source = source;
        this.message = message;
    }

    boolean hasMore() {
        return pos < limit;
    }

    /**
     * Reads the key of the next field.
     *
     * @return its field number (at least 1); {@link #wireType()} tells how its value is encoded
     */
    int readField() throws TokenizerFormatException {
        fieldStart = pos;
        long key = readVarint();
        int type = (int) (key & 7);
        long number = key >>> 3;
        if (number == 0 || number > 0x1FFF_FFFF) {
            throw error(fieldStart, "invalid field number " + number);
        }
        if (type != VARINT && type != FIXED64 && type != LENGTH_DELIMITED && type != FIXED32) {
            // 3 and 4 are the long-deprecated groups, which SentencePiece never writes; 6 and 7 do not exist.
            throw error(fieldStart, "unsupported wire type " + type + " for field " + number);
        }
        wireType = type;
        field = (int) number;
        return field;
    }

    int wireType() {
        return wireType;
    }

    /** Fails unless the current field is encoded with {@code expected}: a known field with the wrong encoding. */
    void expect(int expected) throws TokenizerFormatException {
        if (wireType != expected) {
            throw error(fieldStart, "field " + field + " has wire type " + wireType + ", expected " + expected);
        }
    }

    long readVarint() throws TokenizerFormatException {
        int start = pos;
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= limit) {
                throw error(start, "truncated varint");
            }
            int b = data[pos++];
            result |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return result;
            }
        }
        throw error(start, "varint longer than 10 bytes");
    }

    /** An {@code int32}/enum varint; negative values are written sign-extended to 64 bits, so truncation is exact. */
    int readInt32() throws TokenizerFormatException {
        expect(VARINT);
        return (int) readVarint();
    }

    boolean readBool() throws TokenizerFormatException {
        expect(VARINT);
        return readVarint() != 0;
    }

    float readFloat() throws TokenizerFormatException {
        expect(FIXED32);
        requireRemaining(4);
        int bits = (data[pos] & 0xFF) | (data[pos + 1] & 0xFF) << 8 | (data[pos + 2] & 0xFF) << 16
                | (data[pos + 3] & 0xFF) << 24;
        pos += 4;
        return Float.intBitsToFloat(bits);
    }

    /** A {@code string} field; it must be well-formed UTF-8. */
    String readString() throws TokenizerFormatException {
        int start = pos;
        int length = readLength();
        // The JDK decoder is fast but lenient (bad bytes become U+FFFD); only then is a strict check needed.
        String s = new String(data, pos, length, StandardCharsets.UTF_8);
        if (s.indexOf(Utf8.REPLACEMENT) >= 0 && !Utf8.isWellFormed(data, pos, pos + length)) {
            throw error(start, "field " + field + " is not valid UTF-8");
        }
        pos += length;
        return s;
    }

    /** Skips a {@code bytes} field and returns its length. */
    int skipBytes() throws TokenizerFormatException {
        int length = readLength();
        pos += length;
        return length;
    }

    /** A nested message: returns a reader over its bytes and moves past them. */
    ProtoReader readMessage(String name) throws TokenizerFormatException {
        int length = readLength();
        ProtoReader nested = new ProtoReader(data, pos, pos + length, source, name);
        pos += length;
        return nested;
    }

    /** Skips the value of the current field, whatever its wire type. */
    void skip() throws TokenizerFormatException {
        switch (wireType) {
            case VARINT -> readVarint();
            case FIXED64 -> {
                requireRemaining(8);
                pos += 8;
            }
            case FIXED32 -> {
                requireRemaining(4);
                pos += 4;
            }
            case LENGTH_DELIMITED -> skipBytes();
            default -> throw new IllegalStateException("skip() before readField()");
        }
    }

    /** An error at the start of the current field. */
    TokenizerFormatException fieldError(String what) {
        return error(fieldStart, what);
    }

    private int readLength() throws TokenizerFormatException {
        expect(LENGTH_DELIMITED);
        int start = pos;
        long length = readVarint();
        if (length < 0 || length > limit - pos) {
            throw error(start, "field " + field + " declares " + Long.toUnsignedString(length) + " bytes but only "
                    + (limit - pos) + " remain; truncated, or not a SentencePiece model");
        }
        return (int) length;
    }

    private void requireRemaining(int n) throws TokenizerFormatException {
        if (limit - pos < n) {
            throw error(pos, "truncated: field " + field + " needs " + n + " bytes, " + (limit - pos) + " remain");
        }
    }

    private TokenizerFormatException error(int offset, String what) {
        return new TokenizerFormatException(source + ": " + what + " (" + message + ", byte offset " + offset + ")");
    }
}
