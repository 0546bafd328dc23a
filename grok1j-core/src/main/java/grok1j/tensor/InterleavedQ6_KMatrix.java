package grok1j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import static jdk.incubator.vector.VectorOperators.B2F;

/**
 * A GGUF Q6_K weight unpacked for decode: each 6-bit weight as one signed byte {@code q - 32}, the stored rows in
 * groups of {@value #GROUP} interleaved as in {@link InterleavedQ8_0Matrix}, so that a vector's lanes run over rows.
 *
 * <p>Why: a Q6_K weight is four bits in {@code ql} and two in {@code qh}; cutting them out and merging them costs the
 * file-layout kernel ({@link GgmlMatvec#q6_Kx4p}) about 6.5 vector operations per 16 weights, so decode ran at a third
 * of the memory probe, bound by arithmetic (Zen 5, 2-layer file: 68 ms per layer, 0.69x llama.cpp). Unpacked, a vector
 * of 16 rows at one input position is one widening load, one conversion and one FMA with the broadcast activation,
 * the kernel of the interleaved Q8_0 layout, which streams at the probe. The price is memory: 1.078 bytes per weight
 * against the file's 0.82 (about 31 % more), which is why the copy is made only when it fits
 * ({@code GgufModel.repackPlan}).
 *
 * <p>Layout, per group of {@value #GROUP} stored rows (output columns {@code 32g .. 32g + 31}): first the weights of
 * all {@code K} input positions, position-major, {@code q[i][r] - 32} (int8) at byte {@code 32 i + r}; then, per
 * superblock {@code s} of 256 positions, {@value #SCALE_BYTES} bytes at {@code 32 K + 640 s}: the sub-block scales
 * (the file's int8 {@code scales}) {@code sc[b][r]} at {@code 32 b + r} for the 16-position sub-blocks {@code b < 16},
 * and the superblock's scale, f16 converted to float32 (exact), {@code d[r]} at {@code 512 + 4 r}. A group is
 * {@code 34.5 K} bytes, against the {@code 26.25 K} of its 32 rows in the file. The weights run as one stream, as in
 * {@link InterleavedQ8_0Matrix}, so that the decode loop is one flat loop over the input positions with the scales
 * converted where a sub-block ends: with the scales between each superblock's weights, a loop per superblock that
 * converted its 16 x 32 scales into scratch first read memory at 12-18 GB/s on one thread against 17-23 for this
 * layout and loop (Zen 5, 32,768 x 6,144, same JVM, alternating).
 *
 * <p>Numerics (exact float32, as every GGUF kernel, {@link GgmlMatvec}): per row and sub-block the kernel sums
 * {@code (q - 32) * x} in one float32 FMA chain over the sub-block's 16 positions, then adds
 * {@code (sc * d) * sum} to the row's total. The file-layout kernel sums {@code q * x} and takes the offset 32 out at
 * the end, so the two agree to float32 rounding, not bit for bit. Prefill dequantizes each group into the same
 * floats as the GGUF rows give ({@code (sc * d) * (q - 32)}, {@link GgmlRowDequant}) and runs
 * {@link InterleavedPrefill}, so it is bit for bit the GGUF layout's GEMM ({@link GgufPanelGemm}).
 *
 * <p>512-bit vectors only: decode takes four groups per pass (two vectors of 16 rows each, four sequential streams).
 * With 256-bit vectors (AVX2) a vector holds 8 rows, each widened from 8 bytes, and the unpacked copy decoded slower
 * than the file's rows (one thread from memory, Zen 5 as AVX2 code, {@code -XX:UseAVX=2 -Dgrok1j.kernel.lanes=8}, K =
 * 6144: 6.1-6.3 against 7.7-7.9 billion weights per second; with 512-bit vectors in the same conditions 9.0-9.3
 * against 5.7-5.8), so there the file's rows stay.
 */
public final class InterleavedQ6_KMatrix implements WeightMatrix {
    /** Stored rows per group: two 16-lane vectors. */
    public static final int GROUP = InterleavedPrefill.GROUP;
    private static final int L = GgmlKernels.L;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Bytes of a Q6_K superblock of 256 weights in the file. */
    private static final int SUPERBLOCK_BYTES = 210;
    /** Bytes of one superblock's scales in a group: 16 x 32 int8 sub-block scales, then 32 float32 d. */
    static final int SCALE_BYTES = 640;
    /** Where, in a superblock's scales, the float32 d are. */
    private static final int D = 512;

    private final MemorySegment data;
    private final int k;
    private final int n;
    /** Bytes from one group to the next. */
    private final long groupBytes;
    /** Where, in a group, input position 0's weights and superblock 0's scales are (not 0 in a view of some input rows). */
    private final long weightOffset;
    private final long scaleOffset;

    private InterleavedQ6_KMatrix(MemorySegment data, int k, int n, long groupBytes, long weightOffset, long scaleOffset) {
        this.data = data;
        this.k = k;
        this.n = n;
        this.groupBytes = groupBytes;
        this.weightOffset = weightOffset;
        this.scaleOffset = scaleOffset;
    }

    /** Whether this machine's kernels take the layout: with 512-bit vectors (16 lanes) only, see the class comment. */
    public static boolean supported() {
        return L == 16;
    }

    /** Whether {@code m} can be unpacked: Q6_K with a multiple of {@value #GROUP} rows, on a machine that {@link #supported}. */
    public static boolean canRepack(GgufMatrix m) {
        return supported() && m.type() == GgmlType.Q6_K && m.outputDim() % GROUP == 0;
    }

    /** Bytes the unpacked copy of {@code m} takes: 34.5 per 32 weights. */
    public static long storedBytes(GgufMatrix m) {
        return groupBytes(m.inputDim()) * (m.outputDim() / GROUP);
    }

    private static long groupBytes(int k) {
        return 32L * k + (long) SCALE_BYTES * (k / 256);
    }

    /**
     * Copies {@code m} into the unpacked, interleaved layout, in memory of {@code arena}, on the common fork-join
     * pool's threads when both segments may be used from them.
     *
     * @throws IllegalArgumentException if {@code m} cannot be repacked ({@link #canRepack})
     */
    public static InterleavedQ6_KMatrix repack(GgufMatrix m, Arena arena) {
        if (!canRepack(m)) {
            throw new IllegalArgumentException("cannot unpack a " + m.type() + " matrix of " + m.outputDim()
                    + " rows (needs Q6_K with rows a multiple of " + GROUP + ")");
        }
        int k = m.inputDim();
        int n = m.outputDim();
        int superblocks = k / 256;
        long groupBytes = groupBytes(k);
        // scratch: the group's rows unpacked to one byte per weight
        MemorySegment dst = InterleavedGroups.copy(m, arena, groupBytes, k * GROUP, (rows, rb, unpacked, out) -> {
            for (int r = 0; r < GROUP; r++) {
                for (int s = 0; s < superblocks; s++) {
                    int o = r * rb + SUPERBLOCK_BYTES * s;
                    unpack(rows, o, unpacked, r * k + 256 * s);
                    int scales = 32 * k + SCALE_BYTES * s;
                    for (int b = 0; b < 16; b++) {
                        out[scales + 32 * b + r] = rows[o + 192 + b];
                    }
                    float d = Float.float16ToFloat((short) SHORT_LE.get(rows, o + 208));
                    FLOAT_LE.set(out, scales + D + 4 * r, d);
                }
            }
            for (int s = 0; s < superblocks; s++) {
                for (int r = 0; r < GROUP; r += 8) {
                    for (int i = 0; i < 256; i += 8) {
                        InterleavedQ8_0Matrix.transpose8x8(unpacked, r * k + 256 * s + i, k, out,
                                32 * (256 * s + i) + r, 32);
                    }
                }
            }
        });
        return new InterleavedQ6_KMatrix(dst, k, n, groupBytes, 0, 32L * k);
    }

    private static final VarHandle LONG_LE = MethodHandles.byteArrayViewVarHandle(long[].class, LE);
    private static final VarHandle SHORT_LE = MethodHandles.byteArrayViewVarHandle(short[].class, LE);
    private static final VarHandle FLOAT_LE = MethodHandles.byteArrayViewVarHandle(float[].class, LE);
    private static final long LOW_NIBBLES = 0x0F0F0F0F0F0F0F0FL;
    private static final long TWO_BITS = 0x0303030303030303L;
    private static final long BIT_5 = 0x2020202020202020L;

    /**
     * The 256 weights of the Q6_K superblock at {@code rows[o]} as signed bytes {@code q - 32} into
     * {@code to[at, at + 256)}, eight at a time in a long. Per half of 128 (ql +64, qh +32), element l, l+32, l+64,
     * l+96 take the low or high nibble of {@code ql[l]} or {@code ql[l + 32]} and bits 0-1, 2-3, 4-5 or 6-7 of
     * {@code qh[l]} (the layout of {@link GgmlDequant#q6_k}).
     */
    static void unpack(byte[] rows, int o, byte[] to, int at) {
        for (int half = 0; half < 2; half++) {
            int ql = o + 64 * half, qh = o + 128 + 32 * half, y = at + 128 * half;
            for (int l = 0; l < 32; l += 8) {
                long a = (long) LONG_LE.get(rows, ql + l);
                long b = (long) LONG_LE.get(rows, ql + 32 + l);
                long h = (long) LONG_LE.get(rows, qh + l);
                LONG_LE.set(to, y + l, minus32((a & LOW_NIBBLES) | (h & TWO_BITS) << 4));
                LONG_LE.set(to, y + 32 + l, minus32((b & LOW_NIBBLES) | (h >>> 2 & TWO_BITS) << 4));
                LONG_LE.set(to, y + 64 + l, minus32((a >>> 4 & LOW_NIBBLES) | (h >>> 4 & TWO_BITS) << 4));
                LONG_LE.set(to, y + 96 + l, minus32((b >>> 4 & LOW_NIBBLES) | (h >>> 6 & TWO_BITS) << 4));
            }
        }
    }

    /**
     * Eight 6-bit values {@code q} (one per byte) to the signed bytes {@code q - 32}: flipping bit 5 gives
     * {@code q - 32} in 6-bit two's complement, and the flipped bit 5 copied into bits 6 and 7 sign-extends it (no
     * carry crosses a byte: {@code 0x20 * 7 = 0xE0}).
     */
    static long minus32(long q) {
        long x = q ^ BIT_5;
        return x | (x & BIT_5) * 7;
    }

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public int columnAlignment() { return GROUP; }
    @Override public long storedBytes() { return groupBytes(k) * (n / GROUP); }
    @Override public String typeName() { return "Q6_K (unpacked to int8, rows interleaved by " + GROUP + ")"; }

    @Override
    public int partsPerThread(int tokens) {
        return tokens < GgufPanelGemm.MIN_TOKENS ? GgufMatrix.DECODE_PARTS_PER_THREAD : 1;
    }

    /** Output columns {@code [from, to)}: whole groups, so both ends must be multiples of {@value #GROUP}. */
    @Override
    public WeightMatrix columns(int from, int to) {
        WeightMatrix.checkRange("columns", from, to, n);
        if (from % GROUP != 0 || to % GROUP != 0) {
            throw new IllegalArgumentException("cannot split an interleaved Q6_K matrix at output columns [" + from
                    + ", " + to + "): its groups hold " + GROUP + " columns");
        }
        return new InterleavedQ6_KMatrix(data.asSlice((from / GROUP) * groupBytes, ((to - from) / GROUP) * groupBytes),
                k, to - from, groupBytes, weightOffset, scaleOffset);
    }

    /** Input rows {@code [from, to)}: both ends on a Q6_K superblock boundary (256). */
    @Override
    public WeightMatrix rows(int from, int to) {
        WeightMatrix.checkRange("rows", from, to, k);
        if (from % 256 != 0 || to % 256 != 0) {
            throw new IllegalArgumentException("cannot split a Q6_K matrix at input rows [" + from + ", " + to
                    + "): Q6_K blocks hold 256 elements");
        }
        return new InterleavedQ6_KMatrix(data, to - from, n, groupBytes, weightOffset + 32L * from,
                scaleOffset + (long) SCALE_BYTES * (from / 256));
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
            InterleavedPrefill.multiply(x, tokens, y, k, n, n0, n1, this::dequantizeStrip);
        }
    }

    private static final ThreadLocal<float[]> EDGE = ThreadLocal.withInitial(() -> new float[GROUP]);

    /**
     * {@code y[yo + c] = sum_i W[c][i] * x[xo + i]} for {@code c in [n0, n1)}: whole groups four per pass, one from
     * each quarter of the range; groups cut by {@code n0} or {@code n1} whole into scratch, as
     * {@link InterleavedQ8_0Matrix}.
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
        int q = (g1 - g0) / 4;
        long ds = scaleOffset - weightOffset;
        for (int g = g0; g < g0 + q; g++) {
            pass(data, g * groupBytes + weightOffset, q * groupBytes, ds, x, xo, k, y, yo + g * GROUP, q * GROUP);
        }
        for (int g = g0 + 4 * q; g < g1; g++) {
            pass(data, g * groupBytes + weightOffset, 0, ds, x, xo, k, y, yo + g * GROUP, 0);
        }
    }

    private void edge(float[] x, int xo, float[] y, int yo, int g, int c0, int c1) {
        float[] e = EDGE.get();
        pass(data, g * groupBytes + weightOffset, 0, scaleOffset - weightOffset, x, xo, k, e, 0, 0);
        System.arraycopy(e, c0 - g * GROUP, y, yo + c0, c1 - c0);
    }

    /**
     * Four groups, at {@code off + j * gs} for {@code j < 4}, into {@code y[yo + j * ys, + 32)}: one flat loop over
     * the input positions (see {@link InterleavedQ8_0Matrix#pass}), per position one broadcast of the activation and
     * eight 16-byte loads, each widened, converted and FMA'd into its sub-block partial; at a sub-block's end each
     * partial times its 16 scales {@code sc * d} joins the total. The scales are converted there, from two 16-byte
     * loads of {@code sc} per group (converted as the weights are) and eight loads of {@code d}. The kernel is big for C2: past its
     * inlining budget ({@code NodeCountInliningCutoff}) it leaves a call to a method of ours out of line and boxes
     * its vectors (four times slower), while the Vector API's own methods, forced inline, are inlined late. So every
     * vector operation is written out here, with no helper: a helper for the conversions was inlined in one caller and
     * not in another (a JMH harness), and with sixteen 16-byte loads of {@code sc}, or eight {@code d} kept in
     * registers from one superblock to the next, the budget ran out sooner.
     *
     * @param ds bytes from a group's position-0 weights to its superblock-0 scales
     */
    static void pass(MemorySegment w, long off, long gs, long ds, float[] x, int xo, int k, float[] y, int yo, int ys) {
        FloatVector z = FloatVector.zero(F);
        FloatVector a0 = z, a1 = z, b0 = z, b1 = z, c0 = z, c1 = z, e0 = z, e1 = z;
        FloatVector s0 = z, s1 = z, t0 = z, t1 = z, u0 = z, u1 = z, v0 = z, v1 = z;
        final long o1 = off + gs, o2 = off + 2 * gs, o3 = off + 3 * gs;
        for (int i = 0; i < k; i++) {
            long o = i * 32L;
            FloatVector xv = FloatVector.broadcast(F, x[xo + i]);
            a0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, off + o, LE).convertShape(B2F, F, 0)).fma(xv, a0);
            a1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, off + o + 16, LE).convertShape(B2F, F, 0)).fma(xv, a1);
            b0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + o, LE).convertShape(B2F, F, 0)).fma(xv, b0);
            b1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + o + 16, LE).convertShape(B2F, F, 0)).fma(xv, b1);
            c0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o2 + o, LE).convertShape(B2F, F, 0)).fma(xv, c0);
            c1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o2 + o + 16, LE).convertShape(B2F, F, 0)).fma(xv, c1);
            e0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o3 + o, LE).convertShape(B2F, F, 0)).fma(xv, e0);
            e1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o3 + o + 16, LE).convertShape(B2F, F, 0)).fma(xv, e1);
            if ((i & 15) == 15) {
                long d = ds + (long) SCALE_BYTES * (i >> 8) + D;
                long sc = ds + (long) SCALE_BYTES * (i >> 8) + 2 * (i & 0xF0); // 32 bytes per sub-block (i & 255) / 16
                // each 16 rows' scales as the weights above are read (16-byte loads, the low part converted): a
                // 32-byte load with its high part converted compiled, in some runs, to code whose vector intrinsics
                // failed from here on and boxed every vector (1 GB allocated per decode step, half the speed)
                s0 = a0.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, off + sc, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, off + d, LE)), s0);
                s1 = a1.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, off + sc + 16, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, off + d + 64, LE)), s1);
                t0 = b0.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + sc, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, o1 + d, LE)), t0);
                t1 = b1.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + sc + 16, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, o1 + d + 64, LE)), t1);
                u0 = c0.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, o2 + sc, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, o2 + d, LE)), u0);
                u1 = c1.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, o2 + sc + 16, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, o2 + d + 64, LE)), u1);
                v0 = e0.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, o3 + sc, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, o3 + d, LE)), v0);
                v1 = e1.fma(((FloatVector) ByteVector.fromMemorySegment(B, w, o3 + sc + 16, LE).convertShape(B2F, F, 0))
                        .mul(FloatVector.fromMemorySegment(F, w, o3 + d + 64, LE)), v1);
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

    /** 16 rows' sub-block scales {@code sc * d}: the int8 {@code sc} at {@code sc}, the float32 {@code d} at {@code d}. */
    private static FloatVector scales(MemorySegment w, long sc, long d) {
        return widen(w, sc).mul(FloatVector.fromMemorySegment(F, w, d, LE));
    }

    /** {@code strip[(i - kb) * 32 + j] = (sc * d) * (q - 32)} for group {@code g}'s columns {@code j} and input rows {@code i in [kb, kb + kc)}. */
    private void dequantizeStrip(int g, int kb, int kc, float[] strip) {
        long wo = g * groupBytes + weightOffset;
        for (int i0 = kb; i0 < kb + kc; i0 += 256) {
            long so = g * groupBytes + scaleOffset + (long) SCALE_BYTES * (i0 / 256);
            for (int b = 0; b < 16; b++) {
                FloatVector d0 = scales(data, so + 32 * b, so + D);
                FloatVector d1 = scales(data, so + 32 * b + 16, so + D + 64);
                for (int i = i0 + 16 * b; i < i0 + 16 * b + 16; i++) {
                    widen(data, wo + 32L * i).mul(d0).intoArray(strip, (i - kb) * GROUP);
                    widen(data, wo + 32L * i + 16).mul(d1).intoArray(strip, (i - kb) * GROUP + 16);
                }
            }
        }
    }
}
