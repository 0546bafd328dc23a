package grok1j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A GGUF Q8_0 weight repacked for decode (as llama.cpp repacks some types for its CPU kernels): the stored rows in
 * groups of {@value #GROUP} that are interleaved, so that a vector's lanes run over rows instead of along a row.
 *
 * <p>Why: in the GGUF layout a decode kernel sums each row's 32-weight blocks in vector lanes and must then fetch,
 * convert and broadcast the row's block scale and, at the end, add up the lanes, once per row and block: about 11
 * vector operations per 32 weights ({@link GgmlMatvec#q8_0x4}). With the lanes over rows the activation is a
 * broadcast shared by every row of the pass, the block scales of 16 rows are one vector load, and the outputs come
 * out as vectors: about 3 operations per 16 weights (load and widen, convert, FMA). Measured on Zen 5 (2 vCPUs,
 * {@code grok1j bench --model} on the 2-layer Grok-1-shaped Q8_0 file, six alternating pairs of runs, load 1.8-2.3):
 * decode 38-68 ms per layer against 68-87 for the GGUF rows (113-192 against 182-228 ms per token), prefill of 128
 * tokens 12.4-15.3 against 16.9-17.8 ms per token per layer, of 512 tokens 8.8-10.4 against 9.3-10.6.
 *
 * <p>Layout, per group of {@value #GROUP} stored rows (output columns {@code 32g .. 32g + 31}): the weights,
 * position-major, {@code q[i][r]} at byte {@code 32 i + r} for input position {@code i < K} and row {@code r}; then
 * the block scales converted to float32 (exact: every f16 is a float32), {@code d[b][r]} at
 * {@code 32 K + 128 b + 4 r}. A group is {@code 36 K} bytes, 6 % more than the {@code 34 K} of its GGUF rows: the
 * conversion of the scales, done once here, cost ~15 % of the kernel's time when done per call.
 *
 * <p>Numerics are those of the GGUF kernels (exact float32): per row and block the kernel sums {@code q * x} in one
 * float32 FMA chain over the block's 32 positions, then adds {@code d * sum} to the row's total; every row of every
 * pass has the same chain, whatever the thread count or the part it falls in. Prefill dequantizes each group into
 * the same floats as the GGUF rows give and runs the same FMA chains as {@link GgufPanelGemm}, so it is bit for bit
 * the GGUF layout's.
 *
 * <p>Kernels for both vector widths: with 512-bit vectors decode takes four groups per pass (two vectors of 16 rows
 * each) and prefill the 8-token tile of {@link GgufPanelGemm#kernel8}; with 256-bit vectors (16 registers) decode
 * takes one group per pass (four vectors of 8 rows, four block partials and four totals) and prefill the 4-token tile
 * of {@link GgufPanelGemm#kernel4} on each half of a group. The 256-bit code measured on Zen 5 as AVX2 code
 * ({@code -XX:UseAVX=2 -Dgrok1j.kernel.lanes=8}, 16 registers), the 2-layer Q8_0 file, alternating runs: decode
 * 51.4-57.6 against 74.2-76.5 ms per layer for the GGUF rows, prefill of 128 tokens 16.9-21.4 against 26.7-28.5 ms per
 * token per layer (59-75 % of the FMA peak against 44-47 %). Alone on one thread this kernel ran at 18.0 G weights/s
 * against 13.4 for the GGUF rows' two-row kernel ({@link GgmlMatvec#q8_0x2}; two groups per pass, half a group each:
 * 14.0).
 */
public final class InterleavedQ8_0Matrix implements WeightMatrix {
    /** Stored rows per group: two 16-lane vectors. */
    public static final int GROUP = InterleavedPrefill.GROUP;
    private static final int L = GgmlKernels.L;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    /** The 256-bit kernels' species (8 lanes). */
    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final MemorySegment data;
    private final int k;
    private final int n;
    /** Bytes from one group to the next. */
    private final long groupBytes;
    /** Where, in a group, input position 0's weights and block 0's scales are (not 0 in a view of some input rows). */
    private final long weightOffset;
    private final long scaleOffset;

    private InterleavedQ8_0Matrix(MemorySegment data, int k, int n, long groupBytes, long weightOffset, long scaleOffset) {
        this.data = data;
        this.k = k;
        this.n = n;
        this.groupBytes = groupBytes;
        this.weightOffset = weightOffset;
        this.scaleOffset = scaleOffset;
    }

    /**
     * Whether this machine's kernels can use the layout: true for both widths the kernels have (512- and 256-bit
     * vectors, {@code grok1j.kernel.lanes} 16 or 8).
     */
    public static boolean supported() {
        return L == 16 || L == 8;
    }

    /** Whether {@code m} can be repacked: Q8_0 with a multiple of {@value #GROUP} rows, on a machine that {@link #supported}. */
    public static boolean canRepack(GgufMatrix m) {
        return supported() && m.type() == GgmlType.Q8_0 && m.outputDim() % GROUP == 0;
    }

    /** Bytes the interleaved copy of {@code m} takes: 36 per 32 weights (a float32 scale per block instead of f16). */
    public static long storedBytes(GgufMatrix m) {
        return 36L * m.inputDim() * (m.outputDim() / GROUP);
    }

    /**
     * Copies {@code m} into the interleaved layout, in memory of {@code arena} ({@code 36 K} bytes per 32 rows), on
     * the common fork-join pool's threads when both segments may be used from them.
     *
     * @throws IllegalArgumentException if {@code m} cannot be repacked ({@link #canRepack})
     */
    public static InterleavedQ8_0Matrix repack(GgufMatrix m, Arena arena) {
        if (!canRepack(m)) {
            throw new IllegalArgumentException("cannot interleave a " + m.type() + " matrix of " + m.outputDim()
                    + " rows (needs Q8_0 with rows a multiple of " + GROUP + ")");
        }
        int k = m.inputDim();
        int n = m.outputDim();
        int blocks = k / 32;
        long groupBytes = 36L * k;
        MemorySegment dst = InterleavedGroups.copy(m, arena, groupBytes, 0, (rows, rb, scratch, out) -> {
            for (int r = 0; r < GROUP; r++) {
                for (int b = 0; b < blocks; b++) {
                    float d = Float.float16ToFloat((short) SHORT_ARRAY_LE.get(rows, r * rb + 34 * b));
                    FLOAT_ARRAY_LE.set(out, 32 * k + 128 * b + 4 * r, d);
                }
            }
            for (int b = 0; b < blocks; b++) {
                // the block's 32 x 32 weights (row r, position i) to position-major order, 8 x 8 bytes at a time
                for (int r = 0; r < GROUP; r += 8) {
                    for (int i = 0; i < 32; i += 8) {
                        transpose8x8(rows, r * rb + 34 * b + 2 + i, rb, out, 32 * 32 * b + 32 * i + r, 32);
                    }
                }
            }
        });
        return new InterleavedQ8_0Matrix(dst, k, n, groupBytes, 0, 32L * k);
    }

    private static final java.lang.invoke.VarHandle LONG_LE =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class, LE);
    private static final java.lang.invoke.VarHandle SHORT_ARRAY_LE =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(short[].class, LE);
    private static final java.lang.invoke.VarHandle FLOAT_ARRAY_LE =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(float[].class, LE);

    /**
     * Transposes the 8 x 8 bytes at {@code from} (rows {@code fromStride} apart) into {@code to} (rows
     * {@code toStride} apart): byte {@code j} of source row {@code r} becomes byte {@code r} of target row {@code j}.
     * Each row is one little-endian long; three rounds swap 1-, 2- and 4-byte blocks between rows 1, 2 and 4 apart.
     */
    static void transpose8x8(byte[] from, int fromAt, int fromStride, byte[] to, int toAt, int toStride) {
        long a0 = (long) LONG_LE.get(from, fromAt), a1 = (long) LONG_LE.get(from, fromAt + fromStride);
        long a2 = (long) LONG_LE.get(from, fromAt + 2 * fromStride), a3 = (long) LONG_LE.get(from, fromAt + 3 * fromStride);
        long a4 = (long) LONG_LE.get(from, fromAt + 4 * fromStride), a5 = (long) LONG_LE.get(from, fromAt + 5 * fromStride);
        long a6 = (long) LONG_LE.get(from, fromAt + 6 * fromStride), a7 = (long) LONG_LE.get(from, fromAt + 7 * fromStride);
        long m1 = 0x00FF00FF00FF00FFL, t;
        t = ((a0 >>> 8) ^ a1) & m1; a1 ^= t; a0 ^= t << 8;
        t = ((a2 >>> 8) ^ a3) & m1; a3 ^= t; a2 ^= t << 8;
        t = ((a4 >>> 8) ^ a5) & m1; a5 ^= t; a4 ^= t << 8;
        t = ((a6 >>> 8) ^ a7) & m1; a7 ^= t; a6 ^= t << 8;
        long m2 = 0x0000FFFF0000FFFFL;
        t = ((a0 >>> 16) ^ a2) & m2; a2 ^= t; a0 ^= t << 16;
        t = ((a1 >>> 16) ^ a3) & m2; a3 ^= t; a1 ^= t << 16;
        t = ((a4 >>> 16) ^ a6) & m2; a6 ^= t; a4 ^= t << 16;
        t = ((a5 >>> 16) ^ a7) & m2; a7 ^= t; a5 ^= t << 16;
        long m4 = 0x00000000FFFFFFFFL;
        t = ((a0 >>> 32) ^ a4) & m4; a4 ^= t; a0 ^= t << 32;
        t = ((a1 >>> 32) ^ a5) & m4; a5 ^= t; a1 ^= t << 32;
        t = ((a2 >>> 32) ^ a6) & m4; a6 ^= t; a2 ^= t << 32;
        t = ((a3 >>> 32) ^ a7) & m4; a7 ^= t; a3 ^= t << 32;
        LONG_LE.set(to, toAt, a0);
        LONG_LE.set(to, toAt + toStride, a1);
        LONG_LE.set(to, toAt + 2 * toStride, a2);
        LONG_LE.set(to, toAt + 3 * toStride, a3);
        LONG_LE.set(to, toAt + 4 * toStride, a4);
        LONG_LE.set(to, toAt + 5 * toStride, a5);
        LONG_LE.set(to, toAt + 6 * toStride, a6);
        LONG_LE.set(to, toAt + 7 * toStride, a7);
    }

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public int columnAlignment() { return GROUP; }
    @Override public long storedBytes() { return 36L * k * (n / GROUP); }
    @Override public String typeName() { return "Q8_0 (rows interleaved by " + GROUP + ")"; }

    @Override
    public int partsPerThread(int tokens) {
        return tokens < GgufPanelGemm.MIN_TOKENS ? GgufMatrix.DECODE_PARTS_PER_THREAD : 1;
    }

    /** Output columns {@code [from, to)}: whole groups, so both ends must be multiples of {@value #GROUP}. */
    @Override
    public WeightMatrix columns(int from, int to) {
        WeightMatrix.checkRange("columns", from, to, n);
        if (from % GROUP != 0 || to % GROUP != 0) {
            throw new IllegalArgumentException("cannot split an interleaved Q8_0 matrix at output columns [" + from
                    + ", " + to + "): its groups hold " + GROUP + " columns");
        }
        return new InterleavedQ8_0Matrix(data.asSlice((from / GROUP) * groupBytes, ((to - from) / GROUP) * groupBytes),
                k, to - from, groupBytes, weightOffset, scaleOffset);
    }

    /** Input rows {@code [from, to)}: both ends on a Q8_0 block boundary (32). */
    @Override
    public WeightMatrix rows(int from, int to) {
        WeightMatrix.checkRange("rows", from, to, k);
        if (from % 32 != 0 || to % 32 != 0) {
            throw new IllegalArgumentException("cannot split a Q8_0 matrix at input rows [" + from + ", " + to
                    + "): Q8_0 blocks hold 32 elements");
        }
        return new InterleavedQ8_0Matrix(data, to - from, n, groupBytes, weightOffset + 32L * from,
                scaleOffset + 128L * (from / 32));
    }

    /** One token: the decode kernel; 2 to {@code MIN_TOKENS - 1}: the decode kernel per token; more: the GEMM. */
    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        if (tokens >= GgufPanelGemm.MIN_TOKENS) {
            multiplyBatch(x, tokens, y, n0, n1);
            return;
        }
        for (int t = 0; t < tokens; t++) {
            matvec(x, t * k, y, t * n, n0, n1);
        }
    }

    @Override
    public void multiplyBatch(float[] x, int tokens, float[] y, int n0, int n1) {
        if (tokens > 0 && n0 < n1) {
            prefill(x, tokens, y, n0, n1);
        }
    }

    private static final ThreadLocal<float[]> EDGE = ThreadLocal.withInitial(() -> new float[GROUP]);

    /**
     * {@code y[yo + c] = sum_i W[c][i] * x[xo + i]} for {@code c in [n0, n1)}. Whole groups run four per pass, one
     * from each quarter of the range (four sequential streams, as {@link GgmlMatvec}); the groups left over and
     * groups cut by {@code n0} or {@code n1} run through the same kernel alone (its four streams one group: the
     * same arithmetic, four times the work, for at most a few groups).
     */
    void matvec(float[] x, int xo, float[] y, int yo, int n0, int n1) {
        int g0 = (n0 + GROUP - 1) / GROUP;
        int g1 = n1 / GROUP;
        if (g0 > g1) { // [n0, n1) inside one group
            edge(x, xo, y, yo, n0 / GROUP, n0, n1);
            return;
        }
        if (n0 % GROUP != 0) {
            edge(x, xo, y, yo, g0 - 1, n0, g0 * GROUP);
        }
        if (n1 % GROUP != 0) {
            edge(x, xo, y, yo, g1, g1 * GROUP, n1);
        }
        if (L == 8) { // 256-bit vectors: one group per pass, one sequential stream
            for (int g = g0; g < g1; g++) {
                pass8(data, g * groupBytes + weightOffset, scaleOffset - weightOffset, x, xo, k, y, yo + g * GROUP);
            }
            return;
        }
        int q = (g1 - g0) / 4;
        for (int g = g0; g < g0 + q; g++) {
            pass(data, g * groupBytes + weightOffset, q * groupBytes, scaleOffset - weightOffset, x, xo, k, y,
                    yo + g * GROUP, q * GROUP);
        }
        for (int g = g0 + 4 * q; g < g1; g++) {
            pass(data, g * groupBytes + weightOffset, 0, scaleOffset - weightOffset, x, xo, k, y, yo + g * GROUP, 0);
        }
    }

    /** Rows {@code [c0, c1)} of group {@code g} (a group cut by the range): the whole group into scratch, then a copy. */
    private void edge(float[] x, int xo, float[] y, int yo, int g, int c0, int c1) {
        float[] e = EDGE.get();
        if (L == 8) {
            pass8(data, g * groupBytes + weightOffset, scaleOffset - weightOffset, x, xo, k, e, 0);
        } else {
            pass(data, g * groupBytes + weightOffset, 0, scaleOffset - weightOffset, x, xo, k, e, 0, 0);
        }
        System.arraycopy(e, c0 - g * GROUP, y, yo + c0, c1 - c0);
    }

    /**
     * Four groups, at {@code off + j * gs} for {@code j < 4}, into {@code y[yo + j * ys, + 32)}. Per position one
     * broadcast of the activation and eight 16-byte loads, each widened, converted and FMA'd into its block partial
     * (one chain per vector and block); at a block's end each partial times its 16 scales joins the total. The
     * scales are read in the branch, not converted there: vector conversions inside the loop outgrew C2's inlining
     * budget ({@code NodeCountInliningCutoff}) and left vector calls out of line. One flat loop over positions:
     * with an inner loop per block, C2 rebuilt its pre-, main and post-loops 192 times per row and ran at ~0.7 of this.
     *
     * @param ds bytes from a group's position-0 weights to its block-0 scales
     */
    static void pass(MemorySegment w, long off, long gs, long ds, float[] x, int xo, int k, float[] y, int yo, int ys) {
        FloatVector z = FloatVector.zero(F);
        FloatVector a0 = z, a1 = z, b0 = z, b1 = z, c0 = z, c1 = z, e0 = z, e1 = z;
        FloatVector s0 = z, s1 = z, t0 = z, t1 = z, u0 = z, u1 = z, v0 = z, v1 = z;
        final long o1 = off + gs, o2 = off + 2 * gs, o3 = off + 3 * gs;
        for (int i = 0; i < k; i++) {
            long o = i * 32L;
            FloatVector xv = FloatVector.broadcast(F, x[xo + i]);
            a0 = widen(w, off + o).fma(xv, a0);
            a1 = widen(w, off + o + 16).fma(xv, a1);
            b0 = widen(w, o1 + o).fma(xv, b0);
            b1 = widen(w, o1 + o + 16).fma(xv, b1);
            c0 = widen(w, o2 + o).fma(xv, c0);
            c1 = widen(w, o2 + o + 16).fma(xv, c1);
            e0 = widen(w, o3 + o).fma(xv, e0);
            e1 = widen(w, o3 + o + 16).fma(xv, e1);
            if ((i & 31) == 31) {
                long d = ds + (i >> 5) * 128L;
                s0 = a0.fma(FloatVector.fromMemorySegment(F, w, off + d, LE), s0);
                s1 = a1.fma(FloatVector.fromMemorySegment(F, w, off + d + 64, LE), s1);
                t0 = b0.fma(FloatVector.fromMemorySegment(F, w, o1 + d, LE), t0);
                t1 = b1.fma(FloatVector.fromMemorySegment(F, w, o1 + d + 64, LE), t1);
                u0 = c0.fma(FloatVector.fromMemorySegment(F, w, o2 + d, LE), u0);
                u1 = c1.fma(FloatVector.fromMemorySegment(F, w, o2 + d + 64, LE), u1);
                v0 = e0.fma(FloatVector.fromMemorySegment(F, w, o3 + d, LE), v0);
                v1 = e1.fma(FloatVector.fromMemorySegment(F, w, o3 + d + 64, LE), v1);
                a0 = z; a1 = z; b0 = z; b1 = z; c0 = z; c1 = z; e0 = z; e1 = z;
            }
        }
        s0.intoArray(y, yo);
        s1.intoArray(y, yo + 16);
        t0.intoArray(y, yo + ys);
        t1.intoArray(y, yo + ys + 16);
        u0.intoArray(y, yo + 2 * ys);
        u1.intoArray(y, yo + 2 * ys + 16);
        v0.intoArray(y, yo + 3 * ys);
        v1.intoArray(y, yo + 3 * ys + 16);
    }

    /** 16 int8 weights at {@code off}, as floats. */
    private static FloatVector widen(MemorySegment w, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(B, w, off, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    /**
     * {@link #pass} with 256-bit vectors: one group at {@code off} into {@code y[yo, + 32)}, four vectors of 8 rows,
     * each with its block partial and its total (8 of the 16 registers). Per output the same chains as {@link #pass}.
     */
    static void pass8(MemorySegment w, long off, long ds, float[] x, int xo, int k, float[] y, int yo) {
        FloatVector z = FloatVector.zero(F8);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, s0 = z, s1 = z, s2 = z, s3 = z;
        for (int i = 0; i < k; i++) {
            long o = off + i * 32L;
            FloatVector xv = FloatVector.broadcast(F8, x[xo + i]);
            a0 = widen8(w, o).fma(xv, a0);
            a1 = widen8(w, o + 8).fma(xv, a1);
            a2 = widen8(w, o + 16).fma(xv, a2);
            a3 = widen8(w, o + 24).fma(xv, a3);
            if ((i & 31) == 31) {
                long d = off + ds + (i >> 5) * 128L;
                s0 = a0.fma(FloatVector.fromMemorySegment(F8, w, d, LE), s0);
                s1 = a1.fma(FloatVector.fromMemorySegment(F8, w, d + 32, LE), s1);
                s2 = a2.fma(FloatVector.fromMemorySegment(F8, w, d + 64, LE), s2);
                s3 = a3.fma(FloatVector.fromMemorySegment(F8, w, d + 96, LE), s3);
                a0 = z; a1 = z; a2 = z; a3 = z;
            }
        }
        s0.intoArray(y, yo);
        s1.intoArray(y, yo + 8);
        s2.intoArray(y, yo + 16);
        s3.intoArray(y, yo + 24);
    }

    /** 8 int8 weights at {@code off}, as floats. */
    private static FloatVector widen8(MemorySegment w, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(B8, w, off, LE).convertShape(VectorOperators.B2F, F8, 0);
    }

    /**
     * The prefill GEMM ({@link InterleavedPrefill}): a group is already what {@link Int8PanelGemm} stages and
     * dequantizes, a strip of 32 columns stored position by position; each strip dequantizes {@code d * q} (exact)
     * into the same floats as the GGUF rows give, so the result is the GGUF rows' GEMM ({@link GgufPanelGemm}) bit
     * for bit.
     */
    private void prefill(float[] x, int tokens, float[] y, int n0, int n1) {
        InterleavedPrefill.multiply(x, tokens, y, k, n, n0, n1, L == 16 ? this::dequantizeStrip : this::dequantizeStrip8);
    }

    /** {@code strip[i * 32 + j] = d * q} for group {@code g}'s columns {@code j} and input rows {@code kb + i}, {@code i < kc}. */
    private void dequantizeStrip(int g, int kb, int kc, float[] strip) {
        long wo = g * groupBytes + weightOffset + 32L * kb;
        long so = g * groupBytes + scaleOffset + 128L * (kb / 32);
        for (int b = 0; b < kc; b += 32) {
            FloatVector d0 = FloatVector.fromMemorySegment(F, data, so + 4L * b, LE);
            FloatVector d1 = FloatVector.fromMemorySegment(F, data, so + 4L * b + 64, LE);
            for (int i = b; i < b + 32; i++) {
                widen(data, wo + 32L * i).mul(d0).intoArray(strip, i * GROUP);
                widen(data, wo + 32L * i + 16).mul(d1).intoArray(strip, i * GROUP + 16);
            }
        }
    }

    /**
     * {@link #dequantizeStrip} for 256-bit vectors, in two halves of 16 columns:
     * {@code strip[h * KB * 16 + i * 16 + j] = d * q} for column {@code 16 h + j}.
     */
    private void dequantizeStrip8(int g, int kb, int kc, float[] strip) {
        long wo = g * groupBytes + weightOffset + 32L * kb;
        long so = g * groupBytes + scaleOffset + 128L * (kb / 32);
        for (int b = 0; b < kc; b += 32) {
            FloatVector d0 = FloatVector.fromMemorySegment(F8, data, so + 4L * b, LE);
            FloatVector d1 = FloatVector.fromMemorySegment(F8, data, so + 4L * b + 32, LE);
            FloatVector d2 = FloatVector.fromMemorySegment(F8, data, so + 4L * b + 64, LE);
            FloatVector d3 = FloatVector.fromMemorySegment(F8, data, so + 4L * b + 96, LE);
            for (int i = b; i < b + 32; i++) {
                widen8(data, wo + 32L * i).mul(d0).intoArray(strip, i * 16);
                widen8(data, wo + 32L * i + 8).mul(d1).intoArray(strip, i * 16 + 8);
                widen8(data, wo + 32L * i + 16).mul(d2).intoArray(strip, InterleavedPrefill.KB * 16 + i * 16);
                widen8(data, wo + 32L * i + 24).mul(d3).intoArray(strip, InterleavedPrefill.KB * 16 + i * 16 + 8);
            }
        }
    }
}
