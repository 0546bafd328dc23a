package grok1j.tensor;

/**
 * ggml tensor element types as stored in GGUF files: the type id written in a tensor info, the number of elements
 * in one block and the bytes one block takes (spec kernels.md §3; ids from ggml's {@code include/ggml.h}).
 *
 * <p>Every id ggml has assigned is listed so that the reader can size any tensor (and {@code inspect} can show
 * it), but only the types with {@link #supported()} true can be computed with. Ids 31–33 and 36–38 belonged to
 * removed repacked types and are unknown.
 */
public enum GgmlType {
    F32(0, 1, 4, true),
    F16(1, 1, 2, true),
    Q4_0(2, 32, 18, true),
    Q4_1(3, 32, 20, true),
    Q5_0(6, 32, 22, true),
    Q5_1(7, 32, 24, true),
    Q8_0(8, 32, 34, true),
    Q8_1(9, 32, 36, false),
    Q2_K(10, 256, 84, true),
    Q3_K(11, 256, 110, true),
    Q4_K(12, 256, 144, true),
    Q5_K(13, 256, 176, true),
    Q6_K(14, 256, 210, true),
    Q8_K(15, 256, 292, false),
    IQ2_XXS(16, 256, 66, false),
    IQ2_XS(17, 256, 74, false),
    IQ3_XXS(18, 256, 98, false),
    IQ1_S(19, 256, 50, false),
    IQ4_NL(20, 32, 18, false),
    IQ3_S(21, 256, 110, false),
    IQ2_S(22, 256, 82, false),
    IQ4_XS(23, 256, 136, false),
    I8(24, 1, 1, false),
    I16(25, 1, 2, false),
    I32(26, 1, 4, false),
    I64(27, 1, 8, false),
    F64(28, 1, 8, false),
    IQ1_M(29, 256, 56, false),
    BF16(30, 1, 2, true),
    TQ1_0(34, 256, 54, false),
    TQ2_0(35, 256, 66, false),
    MXFP4(39, 32, 17, false);

    private static final GgmlType[] BY_ID = new GgmlType[40];

    static {
        for (GgmlType t : values()) {
            BY_ID[t.id] = t;
        }
    }

    private final int id;
    private final int blockSize;
    private final int typeSize;
    private final boolean supported;

    GgmlType(int id, int blockSize, int typeSize, boolean supported) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
        this.supported = supported;
    }

    /** The id stored in GGUF tensor infos. */
    public int id() {
        return id;
    }

    /** Elements per block (1 for plain float types, 32 or 256 for quantized ones). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int typeSize() {
        return typeSize;
    }

    /** Whether grok1j can dequantize and multiply with this type. */
    public boolean supported() {
        return supported;
    }

    /** Whether this is a block-quantized type (block size above 1). */
    public boolean quantized() {
        return blockSize > 1;
    }

    /** The type with this id, or null if the id is not a known ggml type. */
    public static GgmlType byId(long id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[(int) id] : null;
    }

    /**
     * Bytes taken by {@code elements} consecutive elements.
     *
     * @throws ArithmeticException if the count is not a whole number of blocks or the size overflows a long
     */
    public long bytesFor(long elements) {
        if (elements % blockSize != 0) {
            throw new ArithmeticException(elements + " elements is not a multiple of the " + this + " block size " + blockSize);
        }
        return Math.multiplyExact(elements / blockSize, (long) typeSize);
    }

    /** Parses a user-facing name such as {@code q8_0}, {@code Q4_K} or {@code bf16}; null if unknown. */
    public static GgmlType parse(String name) {
        for (GgmlType t : values()) {
            if (t.name().equalsIgnoreCase(name)) {
                return t;
            }
        }
        return null;
    }
}
