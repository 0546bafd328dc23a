package grok1j.format.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * A GGUF metadata array, read lazily from the mapped file: fixed-size elements are decoded on access, strings and
 * nested arrays through an index of element offsets built (and fully validated) when the file was opened.
 * Nothing here copies more than the element asked for, so a large token list costs no heap until it is used.
 */
public final class GgufArray {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final MemorySegment seg;
    private final GgufValueType type;
    private final long length;
    private final long first;
    private final long[] offsets;
    private final int depth;

    GgufArray(Path file, MemorySegment seg, GgufValueType type, long length, long first, long[] offsets, int depth) {
        this.file = file;
        this.seg = seg;
        this.type = type;
        this.length = length;
        this.first = first;
        this.offsets = offsets;
        this.depth = depth;
    }

    /** The element type. */
    public GgufValueType elementType() {
        return type;
    }

    /** Number of elements. */
    public long length() {
        return length;
    }

    private long at(long i) {
        if (i < 0 || i >= length) {
            throw new IndexOutOfBoundsException("index " + i + " of an array of " + length);
        }
        return first + i * type.width();
    }

    /** Element {@code i} as the same Java type a scalar value of the element type is read as. */
    public Object get(long i) {
        return switch (type) {
            case STRING -> getString(i);
            case ARRAY -> getArray(i);
            default -> new GgufCursor(file, seg, at(i)).value(type, depth);
        };
    }

    /** Integer element {@code i} (any integer type; UINT64 above 2^63 comes back negative). */
    public long getLong(long i) {
        long o = at(i);
        return switch (type) {
            case UINT8 -> seg.get(ValueLayout.JAVA_BYTE, o) & 0xFF;
            case INT8 -> seg.get(ValueLayout.JAVA_BYTE, o);
            case UINT16 -> seg.get(SHORT, o) & 0xFFFF;
            case INT16 -> seg.get(SHORT, o);
            case UINT32 -> seg.get(INT, o) & 0xFFFF_FFFFL;
            case INT32 -> seg.get(INT, o);
            case UINT64, INT64 -> seg.get(LONG, o);
            case BOOL -> seg.get(ValueLayout.JAVA_BYTE, o) != 0 ? 1 : 0;
            default -> throw new IllegalStateException("array of " + type + " has no integer elements");
        };
    }

    /** Numeric element {@code i} as a double. */
    public double getDouble(long i) {
        return switch (type) {
            case FLOAT32 -> Float.intBitsToFloat(seg.get(INT, at(i)));
            case FLOAT64 -> Double.longBitsToDouble(seg.get(LONG, at(i)));
            default -> getLong(i);
        };
    }

    /** String element {@code i}. */
    public String getString(long i) {
        if (type != GgufValueType.STRING) {
            throw new IllegalStateException("array of " + type + " has no string elements");
        }
        GgufCursor c = new GgufCursor(file, seg, offsets[Math.toIntExact(i)]);
        return c.string("string");
    }

    /** Nested array element {@code i}. */
    public GgufArray getArray(long i) {
        if (type != GgufValueType.ARRAY) {
            throw new IllegalStateException("array of " + type + " has no array elements");
        }
        return new GgufCursor(file, seg, offsets[Math.toIntExact(i)]).array(depth + 1);
    }

    /** All elements as strings (for {@code tokenizer.ggml.tokens}). */
    public String[] toStringArray() {
        String[] r = new String[Math.toIntExact(length)];
        for (int i = 0; i < r.length; i++) {
            r[i] = getString(i);
        }
        return r;
    }

    /** All numeric elements as floats (for {@code tokenizer.ggml.scores}). */
    public float[] toFloatArray() {
        float[] r = new float[Math.toIntExact(length)];
        for (int i = 0; i < r.length; i++) {
            r[i] = (float) getDouble(i);
        }
        return r;
    }

    /** All integer elements as ints (for {@code tokenizer.ggml.token_type}). */
    public int[] toIntArray() {
        int[] r = new int[Math.toIntExact(length)];
        for (int i = 0; i < r.length; i++) {
            r[i] = (int) getLong(i);
        }
        return r;
    }

    /** A short rendering for {@code inspect}: the type, the length and the first few elements. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("[").append(type).append(" x ").append(length).append(": ");
        for (long i = 0; i < Math.min(length, 8); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            Object v = get(i);
            sb.append(v instanceof String s ? '"' + escape(s) + '"' : v);
        }
        return sb.append(length > 8 ? ", ...]" : "]").toString();
    }

    /** {@code s} with backslashes, quotes and control characters written as Java escapes: one printable line. */
    public static String escape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '"' -> sb.append("\\\"");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.toString();
    }
}
