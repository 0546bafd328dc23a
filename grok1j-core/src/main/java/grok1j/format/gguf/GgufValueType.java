package grok1j.format.gguf;

/**
 * Types of GGUF metadata values, with the ids stored in the file (GGUF spec, {@code gguf_metadata_value_type}).
 * Fixed-size types carry their byte width; STRING is {@code u64 length + UTF-8 bytes}, ARRAY is
 * {@code u32 element type + u64 count + elements}.
 */
public enum GgufValueType {
    UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1), STRING(-1), ARRAY(-1),
    UINT64(8), INT64(8), FLOAT64(8);

    private final int width;

    GgufValueType(int width) {
        this.width = width;
    }

    /** The id stored in the file (the ordinal: 0 = UINT8 ... 12 = FLOAT64). */
    public int id() {
        return ordinal();
    }

    /** Bytes per value for fixed-size types, -1 for STRING and ARRAY. */
    public int width() {
        return width;
    }

    /** The smallest number of bytes one value of this type can take (used to reject absurd counts early). */
    int minBytes() {
        return switch (this) {
            case STRING -> 8;
            case ARRAY -> 12;
            default -> width;
        };
    }

    /** The type with this id, or null. */
    public static GgufValueType byId(long id) {
        GgufValueType[] v = values();
        return id >= 0 && id < v.length ? v[(int) id] : null;
    }
}
