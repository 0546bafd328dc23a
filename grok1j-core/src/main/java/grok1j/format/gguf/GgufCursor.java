package grok1j.format.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A bounds-checked little-endian reader over a mapped GGUF file. Every read first checks that the bytes are there,
 * so a truncated or lying file ends in a {@link GgufFormatException} naming the offset, never in an out-of-bounds
 * access, and no length read from the file is trusted before it has been compared with the bytes left.
 */
final class GgufCursor {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Nested arrays deeper than this are refused (the recursion must not overflow the stack). */
    static final int MAX_DEPTH = 16;

    final Path file;
    final MemorySegment seg;
    final long size;
    long pos;
    /** What the strings being read belong to (e.g. {@code "metadata general.name"}), for error messages. */
    String context = "string";

    GgufCursor(Path file, MemorySegment seg, long pos) {
        this.file = file;
        this.seg = seg;
        this.size = seg.byteSize();
        this.pos = pos;
    }

    GgufFormatException error(long at, String what) {
        return GgufFormatException.at(file, at, what);
    }

    long remaining() {
        return size - pos;
    }

    /** Checks that {@code n} more bytes exist; {@code what} names what was being read. */
    void need(long n, String what) {
        if (n < 0 || n > size - pos) {
            throw error(pos, "truncated " + what + ": needs " + Long.toUnsignedString(n) + " bytes, "
                    + (size - pos) + " left in the file");
        }
    }

    int u8(String what) {
        need(1, what);
        return seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF;
    }

    short i16(String what) {
        need(2, what);
        short v = seg.get(SHORT, pos);
        pos += 2;
        return v;
    }

    int i32(String what) {
        need(4, what);
        int v = seg.get(INT, pos);
        pos += 4;
        return v;
    }

    long u32(String what) {
        return i32(what) & 0xFFFF_FFFFL;
    }

    long i64(String what) {
        need(8, what);
        long v = seg.get(LONG, pos);
        pos += 8;
        return v;
    }

    /**
     * A u64 count or length that must fit the file: negative (above 2^63) or more than {@code remaining / unit}
     * items of at least {@code unit} bytes each is an error, so nothing is ever sized from an absurd count.
     */
    long count(String what, long unit) {
        long at = pos;
        long n = i64(what);
        if (n < 0 || (unit > 0 && n > remaining() / unit)) {
            throw error(at, what + " " + Long.toUnsignedString(n) + " is larger than the file allows ("
                    + remaining() + " bytes left)");
        }
        return n;
    }

    /** A GGUF string: u64 byte length, then UTF-8 bytes. */
    String string(String what) {
        long n = count(what + " length", 1);
        return stringBody(n);
    }

    String stringBody(long n) {
        if (n == 0) {
            return "";
        }
        if (n > Integer.MAX_VALUE) {
            throw error(pos, "string of " + n + " bytes is too long");
        }
        String s = utf8(pos, n);
        pos += n;
        return s;
    }

    /**
     * The {@code n} bytes at {@code at} as UTF-8; malformed bytes are an error (the file is not what GGUF says it is,
     * and a replacement character would silently change a key, a token or a tensor name).
     */
    String utf8(long at, long n) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(seg.asSlice(at, n).asByteBuffer()).toString();
        } catch (CharacterCodingException e) {
            String lossy = new String(seg.asSlice(at, Math.min(n, 200)).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            throw error(at, context + " is not valid UTF-8: \"" + GgufArray.escape(lossy) + (n > 200 ? "..." : "") + "\"");
        }
    }

    void skip(long n, String what) {
        need(n, what);
        pos += n;
    }

    /** Reads a metadata value of the given type; arrays become lazy {@link GgufArray} views. */
    Object value(GgufValueType type, int depth) {
        return switch (type) {
            case UINT8 -> u8("uint8 value");
            case INT8 -> (int) (byte) u8("int8 value");
            case UINT16 -> i16("uint16 value") & 0xFFFF;
            case INT16 -> (int) i16("int16 value");
            case UINT32 -> u32("uint32 value");
            case INT32 -> i32("int32 value");
            case FLOAT32 -> Float.intBitsToFloat(i32("float32 value"));
            case BOOL -> {
                long at = pos;
                int b = u8("bool value");
                if (b > 1) {
                    throw error(at, "bool value " + b + " is neither 0 nor 1");
                }
                yield b == 1;
            }
            case STRING -> string("string");
            case ARRAY -> array(depth + 1);
            case UINT64, INT64 -> i64("64-bit integer value");
            case FLOAT64 -> Double.longBitsToDouble(i64("float64 value"));
        };
    }

    GgufValueType valueType(String what) {
        long at = pos;
        long id = u32(what);
        GgufValueType t = GgufValueType.byId(id);
        if (t == null) {
            throw error(at, "unknown metadata value type " + id);
        }
        return t;
    }

    /**
     * Parses an array header and walks its elements (validating every nested length) without decoding them.
     * Strings and nested arrays get an index of element offsets: one long per element, and every element takes
     * at least 8 bytes of the file, so the index is never larger than the file.
     */
    GgufArray array(int depth) {
        long start = pos;
        if (depth > MAX_DEPTH) {
            throw error(start, "arrays nested deeper than " + MAX_DEPTH + " levels");
        }
        GgufValueType et = valueType("array element type");
        long n = count("array length", et.minBytes());
        long first = pos;
        long[] offsets = null;
        if (et.width() > 0) {
            skip(n * et.width(), "array data");
        } else {
            if (n > Integer.MAX_VALUE - 8) {
                throw error(start, "array of " + n + " strings or arrays is too long");
            }
            offsets = new long[(int) n];
            for (int i = 0; i < n; i++) {
                offsets[i] = pos;
                if (et == GgufValueType.STRING) {
                    long len = count("string length", 1);
                    if (len > Integer.MAX_VALUE) {
                        throw error(pos, "string of " + len + " bytes is too long");
                    }
                    utf8(pos, len); // checked once here, so reading an element later cannot fail
                    skip(len, "string");
                } else {
                    array(depth + 1);
                }
            }
        }
        return new GgufArray(file, seg, et, n, first, offsets, depth);
    }
}
