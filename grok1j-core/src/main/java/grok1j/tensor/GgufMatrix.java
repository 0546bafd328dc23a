package grok1j.tensor;

import java.lang.foreign.MemorySegment;

/**
 * A weight stored the GGUF way: {@code N} rows of {@code K} elements of one ggml type, each row a run of blocks
 * along the input dimension (ggml {@code ne = {K, N}}). As a {@link WeightMatrix} it is the logical {@code [K, N]}
 * weight: output column {@code n} is the dot product of stored row {@code n} with the input.
 *
 * <p>The data is a view of the memory-mapped file (an expert is a slice of its 3-D {@code *_exps} tensor); nothing is
 * copied. One token (decode) runs {@link GgmlMatvec}'s vector kernels, which every supported type has. For more
 * tokens, F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K have vectorized kernels ({@link GgmlKernels}); the other
 * supported types dequantize a row at a time and then take a vector dot.
 */
public final class GgufMatrix implements WeightMatrix {
    private final GgmlType type;
    private final MemorySegment data;
    private final int k;
    private final int n;
    /** Bytes from one stored row to the next: a row's own size, or more in a view of some input rows. */
    private final long rowBytes;

    /**
     * @param data the {@code n} rows, {@code n * type.bytesFor(k)} bytes
     * @throws IllegalArgumentException if the type is unsupported, {@code k} is not a multiple of its block size, or
     *                                  the size disagrees
     */
    public GgufMatrix(GgmlType type, MemorySegment data, int k, int n) {
        if (!type.supported()) {
            throw new IllegalArgumentException("tensor type " + type + " is not supported (supported: F32, F16, BF16, "
                    + "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
        }
        if (k <= 0 || n <= 0 || k % type.blockSize() != 0) {
            throw new IllegalArgumentException("a " + type + " matrix needs rows of a positive multiple of "
                    + type.blockSize() + " elements, got " + k + " x " + n);
        }
        this.rowBytes = type.bytesFor(k);
        if (data.byteSize() != rowBytes * n) {
            throw new IllegalArgumentException(type + " matrix " + k + " x " + n + " needs " + rowBytes * n
                    + " bytes, has " + data.byteSize());
        }
        this.type = type;
        this.data = data;
        this.k = k;
        this.n = n;
    }

    /** A view of {@code n} rows of {@code k} elements, {@code pitch} bytes apart. */
    private GgufMatrix(GgmlType type, MemorySegment data, int k, int n, long pitch) {
        this.type = type;
        this.data = data;
        this.k = k;
        this.n = n;
        this.rowBytes = pitch;
    }

    /** Output columns {@code [from, to)}: stored rows, contiguous. */
    @Override
    public WeightMatrix columns(int from, int to) {
        WeightMatrix.checkRange("columns", from, to, n);
        return new GgufMatrix(type, data.asSlice(from * rowBytes, (to - from - 1) * rowBytes + type.bytesFor(k)), k,
                to - from, rowBytes);
    }

    /**
     * Input rows {@code [from, to)}: the same run of blocks in every stored row, so both ends must fall on a block
     * boundary.
     *
     * @throws IllegalArgumentException if {@code from} or {@code to} is not a multiple of the type's block size
     */
    @Override
    public WeightMatrix rows(int from, int to) {
        WeightMatrix.checkRange("rows", from, to, k);
        int bs = type.blockSize();
        if (from % bs != 0 || to % bs != 0) {
            throw new IllegalArgumentException("cannot split a " + type + " matrix at input rows [" + from + ", " + to
                    + "): " + type + " blocks hold " + bs + " elements");
        }
        long first = type.bytesFor(from);
        long len = type.bytesFor(to - from);
        return new GgufMatrix(type, data.asSlice(first, (n - 1) * rowBytes + len), to - from, n, rowBytes);
    }

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public long storedBytes() { return n * type.bytesFor(k); }
    @Override public String typeName() { return type.name(); }

    /**
     * Decode (fewer rows than the prefill GEMM takes): {@value #DECODE_PARTS_PER_THREAD} parts per thread. A part is
     * a range of stored rows, each row contiguous, so a part still streams several MB; claimed as threads get to
     * them, the parts keep both threads busy when one is held up. Q8_0 2-layer file on 2 vCPUs (Zen 5, shared host),
     * five alternating bench runs: 197-266 -> 142-170 ms per decode step; Q4_K 33-53 -> 28-32 ms per layer (4 and 16
     * parts per thread measured between). The official int8 {@code [in, out]} layout lost with 8 parts (43-54 -> 64-114
     * ms per layer: short runs per row) and keeps 1.
     */
    @Override
    public int partsPerThread(int tokens) {
        return tokens < GgufPanelGemm.MIN_TOKENS ? DECODE_PARTS_PER_THREAD : 1;
    }

    static final int DECODE_PARTS_PER_THREAD = 8;

    /** The element type. */
    public GgmlType type() {
        return type;
    }

    /** Bytes from one stored row to the next (more than a row's own size in a view of some input rows). */
    long rowBytes() {
        return rowBytes;
    }

    /** The stored bytes (a view). */
    public MemorySegment data() {
        return data;
    }

    /** Dequantizes stored row {@code row} (output column {@code row} of the logical weight) into {@code out[off, off+K)}. */
    public void dequantizeRow(int row, float[] out, int off) {
        GgmlDequant.dequantize(type, data, row * rowBytes, out, off, k);
    }

    /**
     * Prompt rows: always the prefill GEMM, below its threshold too, so a prompt's arithmetic does not depend on how
     * it is cut into chunks (the premise of the prefix cache).
     */
    @Override
    public void multiplyBatch(float[] x, int tokens, float[] y, int n0, int n1) {
        if (tokens > 0 && n0 < n1) {
            GgufPanelGemm.multiply(type, data, rowBytes, k, n, x, tokens, y, n0, n1);
        }
    }

    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        if (tokens == 1) {
            GgmlMatvec.multiply(type, data, rowBytes, k, x, y, n0, n1); // decode: every type has a vector kernel
            return;
        }
        // Row outer, tokens inner: a row (a few KB) is read from memory once and reused from L1 for every token.
        if (tokens >= GgufPanelGemm.MIN_TOKENS) {
            // prefill: better still, a dequantized panel of rows serves a register tile of tokens (several times faster)
            GgufPanelGemm.multiply(type, data, rowBytes, k, n, x, tokens, y, n0, n1);
            return;
        }
        float[] scratch = switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K -> null;
            default -> new float[k];
        };
        for (int c = n0; c < n1; c++) {
            long off = c * rowBytes;
            if (scratch != null) {
                GgmlDequant.dequantize(type, data, off, scratch, 0, k);
            }
            for (int t = 0; t < tokens; t++) {
                int xo = t * k;
                float v = switch (type) {
                    case F32 -> GgmlKernels.dotF32(data, off, x, xo, k);
                    case F16 -> GgmlKernels.dotF16(data, off, x, xo, k);
                    case BF16 -> GgmlKernels.dotBF16(data, off, x, xo, k);
                    case Q8_0 -> GgmlKernels.dotQ8_0(data, off, x, xo, k);
                    case Q4_0 -> GgmlKernels.dotQ4_0(data, off, x, xo, k);
                    case Q4_K -> GgmlKernels.dotQ4_K(data, off, x, xo, k);
                    case Q6_K -> GgmlKernels.dotQ6_K(data, off, x, xo, k);
                    default -> GgmlKernels.dotArrays(scratch, x, xo, k);
                };
                y[t * n + c] = v;
            }
        }
    }
}
