package grok1j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import static jdk.incubator.vector.VectorOperators.B2F;

/**
 * A GGUF Q4_K weight with its stored rows in groups of {@value #GROUP} interleaved, as {@link InterleavedQ8_0Matrix},
 * still four bits per weight: an int holds one row's weights at eight neighbouring input positions, and a vector's
 * lanes run over 16 rows.
 *
 * <p>Why: the file-layout kernel ({@link GgmlMatvec#q4_Kx4p}) spends about 5 vector operations per 16 weights (a
 * fifth of them unpacking each superblock's 6-bit scales and mins, per row), so decode ran at under half of the memory
 * probe, bound by arithmetic (Zen 5, 2-layer file: 37 ms per layer). Interleaved, a 64-byte load holds 16 rows at
 * eight input positions, and each position is a mask in place, a conversion and an FMA with the broadcast activation
 * (3 operations per 16 weights, and a shift per eight positions), with the scales unpacked already. The copy is 19
 * bytes per 32 weights against the file's 18. Measured on Zen 5 (2 vCPUs), the 2-layer Grok-1-shaped Q4_K file, three
 * alternating pairs of {@code grok1j bench} runs with and without the copy: decode 28.4, 32.9 and 32.6 ms per layer
 * against 44.0, 41.4 and 33.6. The loop alone (no scales), one thread from cache: 45-52 billion weights per second
 * against 35-39 with two positions per byte, each byte widened to an int lane.
 *
 * <p>Layout, per group of {@value #GROUP} stored rows (output columns {@code 32g .. 32g + 31}): first the weights of
 * all {@code K} input positions, eight positions per little-endian int, {@code q[8p + j][r] << 4 j} summed over
 * {@code j < 8}, the int of row {@code 16 h + l} ({@code h < 2}, {@code l < 16}) at byte {@code 128 p + 64 h + 4 l};
 * then, per superblock {@code s} of 256 positions, {@value #SCALE_BYTES} bytes at {@code 16 K + 768 s}, for its
 * sub-blocks {@code b < 8}:
 * <ul>
 *   <li>the sub-blocks' scales and mins (the file's 6-bit values, one byte each): {@code sc[b][r]} at
 *       {@code 64 b + r}, {@code m[b][r]} at {@code 64 b + 32 + r};</li>
 *   <li>the superblock's scales, f16 converted to float32 (exact): {@code d[r]} at {@code 512 + 4 r},
 *       {@code dmin[r]} at {@code 640 + 4 r}.</li>
 * </ul>
 * The weights run as one stream, as in {@link InterleavedQ8_0Matrix}, so that the decode loop is one flat loop over
 * the input positions that converts a sub-block's scales where it ends. With each superblock's scales before its
 * weights, a loop per superblock that first converted its scales into scratch ran at 0.6-0.75 of the memory probe.
 * A group is {@code 19 K} bytes.
 *
 * <p>Numerics (exact float32, {@link GgmlMatvec}): per row and sub-block the kernel sums {@code q * x} in one float32
 * FMA chain over the sub-block's 32 positions in order (nibble {@code j} of an int is masked in place, {@code q * 16^j}
 * for {@code j < 4} and after a shift by 16 bits for the others, against the activation divided by the same power of
 * two: the same product), then {@code total = fma(sum, sc * d, total)} and
 * {@code total = fma(m * dmin, -sum(x), total)} with the float32 sum of the sub-block's activations. The
 * file-layout kernel takes all the mins out at the end of the row, so the two agree to float32 rounding, not bit for
 * bit. Prefill dequantizes each group into the same floats as the GGUF rows give ({@code (sc * d) * q - m * dmin},
 * {@link GgmlRowDequant}) and runs {@link InterleavedPrefill}: bit for bit the GGUF layout's GEMM
 * ({@link GgufPanelGemm}).
 *
 * <p>Kernels for both vector widths: with 512-bit vectors decode takes two groups per pass (two vectors of 16 rows
 * each, two sequential streams); with 256-bit vectors one group per pass (four vectors of 8 rows, 32-byte loads).
 */
public final class InterleavedQ4_KMatrix implements WeightMatrix {
    /** Stored rows per group: two 16-lane vectors. */
    public static final int GROUP = InterleavedPrefill.GROUP;
    /** Bytes of one superblock's scales in a group: 8 x 32 scales and 8 x 32 mins (int8), 32 d and 32 dmin (float32). */
    static final int SCALE_BYTES = 768;
    /** Where, in a superblock's scales, the float32 d (and 128 bytes on, dmin) are. */
    private static final int D = 512;
    private static final int L = GgmlKernels.L;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    private static final VectorSpecies<Byte> B32 = ByteVector.SPECIES_256;
    /** The 256-bit kernels' species (8 lanes). */
    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I8 = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Bytes of a Q4_K superblock of 256 weights in the file. */
    private static final int FILE_SUPERBLOCK = 144;

    private final MemorySegment data;
    private final int k;
    private final int n;
    /** Bytes from one group to the next. */
    private final long groupBytes;
    /** Where, in a group, input position 0's weights and superblock 0's scales are (not 0 in a view of some input rows). */
    private final long weightOffset;
    private final long scaleOffset;

    private InterleavedQ4_KMatrix(MemorySegment data, int k, int n, long groupBytes, long weightOffset, long scaleOffset) {
        this.data = data;
        this.k = k;
        this.n = n;
        this.groupBytes = groupBytes;
        this.weightOffset = weightOffset;
        this.scaleOffset = scaleOffset;
    }

    /** Whether this machine's kernels can use the layout: true for both widths the kernels have (16 or 8 lanes). */
    public static boolean supported() {
        return L == 16 || L == 8;
    }

    /** Whether {@code m} can be repacked: Q4_K with a multiple of {@value #GROUP} rows, on a machine that {@link #supported}. */
    public static boolean canRepack(GgufMatrix m) {
        return supported() && m.type() == GgmlType.Q4_K && m.outputDim() % GROUP == 0;
    }

    /** Bytes the interleaved copy of {@code m} takes: 19 per 32 weights. */
    public static long storedBytes(GgufMatrix m) {
        return 19L * m.inputDim() * (m.outputDim() / GROUP);
    }

    /**
     * Copies {@code m} into the interleaved layout, in memory of {@code arena}, on the common fork-join pool's threads
     * when both segments may be used from them.
     *
     * @throws IllegalArgumentException if {@code m} cannot be repacked ({@link #canRepack})
     */
    public static InterleavedQ4_KMatrix repack(GgufMatrix m, Arena arena) {
        if (!canRepack(m)) {
            throw new IllegalArgumentException("cannot interleave a " + m.type() + " matrix of " + m.outputDim()
                    + " rows (needs Q4_K with rows a multiple of " + GROUP + ")");
        }
        int k = m.inputDim();
        int n = m.outputDim();
        int superblocks = k / 256;
        long groupBytes = 19L * k;
        // scratch: one superblock of a row at one byte per weight
        MemorySegment dst = InterleavedGroups.copy(m, arena, groupBytes, 256, (rows, rb, unpacked, out) -> {
            for (int r = 0; r < GROUP; r++) {
                for (int s = 0; s < superblocks; s++) {
                    int o = r * rb + FILE_SUPERBLOCK * s;
                    int sb = 16 * k + SCALE_BYTES * s;
                    for (int c = 0; c < 4; c++) { // 64 weights per 32 bytes of qs: low nibbles first
                        for (int l = 0; l < 32; l++) {
                            int q = rows[o + 16 + 32 * c + l];
                            unpacked[64 * c + l] = (byte) (q & 0xF);
                            unpacked[64 * c + 32 + l] = (byte) (q >> 4 & 0xF);
                        }
                    }
                    for (int i = 0; i < 256; i += 8) { // eight weights (one byte each, < 16) into one int of nibbles
                        long v = (long) LONG_LE.get(unpacked, i);
                        v = (v | v >>> 4) & 0x00FF00FF00FF00FFL;
                        v = (v | v >>> 8) & 0x0000FFFF0000FFFFL;
                        INT_LE.set(out, 16 * (256 * s + i) + 64 * (r / 16) + 4 * (r % 16), (int) (v | v >>> 16));
                    }
                    for (int b = 0; b < 8; b++) {
                        out[sb + 64 * b + r] = (byte) scale(rows, o + 4, b);
                        out[sb + 64 * b + 32 + r] = (byte) min(rows, o + 4, b);
                    }
                    FLOAT_LE.set(out, sb + D + 4 * r, Float.float16ToFloat((short) SHORT_LE.get(rows, o)));
                    FLOAT_LE.set(out, sb + D + 128 + 4 * r, Float.float16ToFloat((short) SHORT_LE.get(rows, o + 2)));
                }
            }
        });
        return new InterleavedQ4_KMatrix(dst, k, n, groupBytes, 0, 16L * k);
    }

    /** The 6-bit scale of sub-block {@code j} from the 12 scale bytes at {@code rows[o]} (ggml's {@code get_scale_min_k4}). */
    static int scale(byte[] rows, int o, int j) {
        return j < 4 ? rows[o + j] & 63 : (rows[o + j + 4] & 0xF) | ((rows[o + j - 4] & 0xFF) >> 6) << 4;
    }

    /** The 6-bit min of sub-block {@code j}, as {@link #scale}. */
    static int min(byte[] rows, int o, int j) {
        return j < 4 ? rows[o + j + 4] & 63 : ((rows[o + j + 4] & 0xFF) >> 4) | ((rows[o + j] & 0xFF) >> 6) << 4;
    }

    private static final VarHandle LONG_LE = MethodHandles.byteArrayViewVarHandle(long[].class, LE);
    private static final VarHandle SHORT_LE = MethodHandles.byteArrayViewVarHandle(short[].class, LE);
    private static final VarHandle INT_LE = MethodHandles.byteArrayViewVarHandle(int[].class, LE);
    private static final VarHandle FLOAT_LE = MethodHandles.byteArrayViewVarHandle(float[].class, LE);

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public int columnAlignment() { return GROUP; }
    @Override public long storedBytes() { return groupBytes * (n / GROUP); }
    @Override public String typeName() { return "Q4_K (rows interleaved by " + GROUP + ")"; }

    @Override
    public int partsPerThread(int tokens) {
        return tokens < GgufPanelGemm.MIN_TOKENS ? GgufMatrix.DECODE_PARTS_PER_THREAD : 1;
    }

    /** Output columns {@code [from, to)}: whole groups, so both ends must be multiples of {@value #GROUP}. */
    @Override
    public WeightMatrix columns(int from, int to) {
        WeightMatrix.checkRange("columns", from, to, n);
        if (from % GROUP != 0 || to % GROUP != 0) {
            throw new IllegalArgumentException("cannot split an interleaved Q4_K matrix at output columns [" + from
                    + ", " + to + "): its groups hold " + GROUP + " columns");
        }
        return new InterleavedQ4_KMatrix(data.asSlice((from / GROUP) * groupBytes, ((to - from) / GROUP) * groupBytes),
                k, to - from, groupBytes, weightOffset, scaleOffset);
    }

    /** Input rows {@code [from, to)}: both ends on a Q4_K superblock boundary (256). */
    @Override
    public WeightMatrix rows(int from, int to) {
        WeightMatrix.checkRange("rows", from, to, k);
        if (from % 256 != 0 || to % 256 != 0) {
            throw new IllegalArgumentException("cannot split a Q4_K matrix at input rows [" + from + ", " + to
                    + "): Q4_K blocks hold 256 elements");
        }
        return new InterleavedQ4_KMatrix(data, to - from, n, groupBytes, weightOffset + 16L * from,
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
            InterleavedPrefill.multiply(x, tokens, y, k, n, n0, n1, L == 16 ? this::dequantizeStrip : this::dequantizeStrip8);
        }
    }

    /** Per position of eight: the power of two that undoes the place of its nibble in a masked int (exact). */
    private static final float[] UNIT = {1f, 0x1p-4f, 0x1p-8f, 0x1p-12f, 1f, 0x1p-4f, 0x1p-8f, 0x1p-12f};

    /** Per-thread decode scratch: the activation scaled by {@link #UNIT}, sub-block sums. */
    private static final class Scratch {
        float[] x = new float[0];
        float[] sums = new float[0];
        final float[] edge = new float[GROUP];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code y[yo + c] = sum_i W[c][i] * x[xo + i]} for {@code c in [n0, n1)}: whole groups two per pass, one from
     * each half of the range (with 256-bit vectors one per pass); groups cut by {@code n0} or {@code n1} whole into
     * scratch, as {@link InterleavedQ8_0Matrix}.
     */
    void matvec(float[] x, int xo, float[] y, int yo, int n0, int n1) {
        Scratch s = SCRATCH.get();
        if (s.x.length < k) {
            s.x = new float[k];
            s.sums = new float[k / 32];
        }
        for (int b = 0; b < k; b += 32) {
            float sum = 0f;
            for (int i = b; i < b + 32; i++) {
                sum += x[xo + i];
                s.x[i] = x[xo + i] * UNIT[i & 7]; // nibble j of an int is read as q * 16^(j % 4)
            }
            s.sums[b / 32] = -sum;
        }
        int g0 = (n0 + GROUP - 1) / GROUP;
        int g1 = n1 / GROUP;
        if (g0 > g1) { // [n0, n1) inside one group
            edge(s, y, yo, n0 / GROUP, n0, n1);
            return;
        }
        if (n0 % GROUP != 0) {
            edge(s, y, yo, g0 - 1, n0, g0 * GROUP);
        }
        if (n1 % GROUP != 0) {
            edge(s, y, yo, g1, g1 * GROUP, n1);
        }
        long ds = scaleOffset - weightOffset;
        if (L == 8) {
            for (int g = g0; g < g1; g++) {
                pass8(data, g * groupBytes + weightOffset, ds, s.x, s.sums, k, y, yo + g * GROUP);
            }
            return;
        }
        int q = (g1 - g0) / 2;
        for (int g = g0; g < g0 + q; g++) {
            pass(data, g * groupBytes + weightOffset, q * groupBytes, ds, s.x, s.sums, k, y, yo + g * GROUP, q * GROUP);
        }
        if (g0 + 2 * q < g1) {
            pass(data, (g1 - 1) * groupBytes + weightOffset, 0, ds, s.x, s.sums, k, y, yo + (g1 - 1) * GROUP, 0);
        }
    }

    private void edge(Scratch s, float[] y, int yo, int g, int c0, int c1) {
        long ds = scaleOffset - weightOffset;
        if (L == 8) {
            pass8(data, g * groupBytes + weightOffset, ds, s.x, s.sums, k, s.edge, 0);
        } else {
            pass(data, g * groupBytes + weightOffset, 0, ds, s.x, s.sums, k, s.edge, 0, 0);
        }
        System.arraycopy(s.edge, c0 - g * GROUP, y, yo + c0, c1 - c0);
    }

    /**
     * Two groups, at {@code off} and {@code off + gs}, into {@code y[yo, + 32)} and {@code y[yo + ys, + 32)}: one flat
     * loop over blocks of eight positions: four 64-byte loads, and per position a broadcast and for each of the four
     * a mask in place, a conversion and an FMA into its sub-block partial; at a sub-block's end its scales
     * {@code sc * d} and mins {@code m * dmin} are converted (one 32-byte load of each kind per group), each partial
     * times its scales, and its mins times the negated activation sum, join the total. Two groups, not the four of
     * {@link InterleavedQ8_0Matrix#pass}: the loop body is larger. Every vector operation is written out, with no
     * helper of ours: past C2's inlining budget ({@code NodeCountInliningCutoff}), reached in some runs of the model,
     * a call to a helper is left out of line and its vectors are boxed (378 MB per decode step once), while the
     * Vector API's own methods, forced inline, are inlined late.
     *
     * @param ds   bytes from a group's position-0 weights to its superblock-0 scales
     * @param xs   the activation times {@link #UNIT}
     * @param sums per sub-block, the negated float32 sum of its activations
     */
    static void pass(MemorySegment w, long off, long gs, long ds, float[] xs, float[] sums, int k, float[] y, int yo,
            int ys) {
        FloatVector z = FloatVector.zero(F);
        FloatVector a0 = z, a1 = z, b0 = z, b1 = z, s0 = z, s1 = z, t0 = z, t1 = z;
        final long o1 = off + gs;
        for (int i = 0; i < k; i += 8) {
            long o = i * 16L;
            IntVector q0 = IntVector.fromMemorySegment(I, w, off + o, LE), q1 = IntVector.fromMemorySegment(I, w, off + o + 64, LE);
            IntVector q2 = IntVector.fromMemorySegment(I, w, o1 + o, LE), q3 = IntVector.fromMemorySegment(I, w, o1 + o + 64, LE);
            for (int h = 0; h < 2; h++) {
                for (int j = 0; j < 4; j++) {
                    int mask = 0xF << 4 * j;
                    FloatVector xv = FloatVector.broadcast(F, xs[i + 4 * h + j]);
                    a0 = ((FloatVector) q0.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                    a1 = ((FloatVector) q1.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                    b0 = ((FloatVector) q2.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, b0);
                    b1 = ((FloatVector) q3.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, b1);
                }
                q0 = q0.lanewise(VectorOperators.LSHR, 16);
                q1 = q1.lanewise(VectorOperators.LSHR, 16);
                q2 = q2.lanewise(VectorOperators.LSHR, 16);
                q3 = q3.lanewise(VectorOperators.LSHR, 16);
            }
            if ((i & 31) == 24) {
                long d = ds + (long) SCALE_BYTES * (i >> 8) + D;
                long sc = ds + (long) SCALE_BYTES * (i >> 8) + 2 * (i & 0xE0); // 64 bytes per sub-block (i & 255) / 32
                ByteVector g0 = ByteVector.fromMemorySegment(B32, w, off + sc, LE), m0 = ByteVector.fromMemorySegment(B32, w, off + sc + 32, LE);
                ByteVector g1 = ByteVector.fromMemorySegment(B32, w, o1 + sc, LE), m1 = ByteVector.fromMemorySegment(B32, w, o1 + sc + 32, LE);
                FloatVector m = FloatVector.broadcast(F, sums[i >> 5]);
                s0 = ((FloatVector) m0.convertShape(B2F, F, 0)).mul(FloatVector.fromMemorySegment(F, w, off + d + 128, LE)).fma(m,
                        a0.fma(((FloatVector) g0.convertShape(B2F, F, 0)).mul(FloatVector.fromMemorySegment(F, w, off + d, LE)), s0));
                s1 = ((FloatVector) m0.convertShape(B2F, F, 1)).mul(FloatVector.fromMemorySegment(F, w, off + d + 192, LE)).fma(m,
                        a1.fma(((FloatVector) g0.convertShape(B2F, F, 1)).mul(FloatVector.fromMemorySegment(F, w, off + d + 64, LE)), s1));
                t0 = ((FloatVector) m1.convertShape(B2F, F, 0)).mul(FloatVector.fromMemorySegment(F, w, o1 + d + 128, LE)).fma(m,
                        b0.fma(((FloatVector) g1.convertShape(B2F, F, 0)).mul(FloatVector.fromMemorySegment(F, w, o1 + d, LE)), t0));
                t1 = ((FloatVector) m1.convertShape(B2F, F, 1)).mul(FloatVector.fromMemorySegment(F, w, o1 + d + 192, LE)).fma(m,
                        b1.fma(((FloatVector) g1.convertShape(B2F, F, 1)).mul(FloatVector.fromMemorySegment(F, w, o1 + d + 64, LE)), t1));
                a0 = z; a1 = z; b0 = z; b1 = z;
            }
        }
        s0.intoArray(y, yo);
        s1.intoArray(y, yo + 16);
        t0.intoArray(y, yo + ys);
        t1.intoArray(y, yo + ys + 16);
    }

    /** 16 rows' scales {@code sc * d} (or mins {@code m * dmin}): the bytes at {@code sc}, the float32 {@code d} at {@code d}. */
    private static FloatVector scales(MemorySegment w, long sc, long d) {
        return ((FloatVector) ByteVector.fromMemorySegment(B, w, sc, LE).convertShape(B2F, F, 0))
                .mul(FloatVector.fromMemorySegment(F, w, d, LE));
    }

    /**
     * {@link #pass} with 256-bit vectors: one group at {@code off} into {@code y[yo, + 32)}, four vectors of 8 rows,
     * each with its sub-block partial and its total. Per output the same chains as {@link #pass}.
     */
    static void pass8(MemorySegment w, long off, long ds, float[] xs, float[] sums, int k, float[] y, int yo) {
        FloatVector z = FloatVector.zero(F8);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, s0 = z, s1 = z, s2 = z, s3 = z;
        for (int i = 0; i < k; i += 8) {
            long o = off + i * 16L;
            IntVector q0 = IntVector.fromMemorySegment(I8, w, o, LE), q1 = IntVector.fromMemorySegment(I8, w, o + 32, LE);
            IntVector q2 = IntVector.fromMemorySegment(I8, w, o + 64, LE), q3 = IntVector.fromMemorySegment(I8, w, o + 96, LE);
            for (int h = 0; h < 2; h++) { // as in pass
                for (int j = 0; j < 4; j++) {
                    int mask = 0xF << 4 * j;
                    FloatVector xv = FloatVector.broadcast(F8, xs[i + 4 * h + j]);
                    a0 = ((FloatVector) q0.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                    a1 = ((FloatVector) q1.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                    a2 = ((FloatVector) q2.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, a2);
                    a3 = ((FloatVector) q3.and(mask).convert(VectorOperators.I2F, 0)).fma(xv, a3);
                }
                q0 = q0.lanewise(VectorOperators.LSHR, 16);
                q1 = q1.lanewise(VectorOperators.LSHR, 16);
                q2 = q2.lanewise(VectorOperators.LSHR, 16);
                q3 = q3.lanewise(VectorOperators.LSHR, 16);
            }
            if ((i & 31) == 24) {
                long d = off + ds + (long) SCALE_BYTES * (i >> 8) + D;
                long sc = off + ds + (long) SCALE_BYTES * (i >> 8) + 2 * (i & 0xE0);
                ByteVector g = ByteVector.fromMemorySegment(B32, w, sc, LE), mins = ByteVector.fromMemorySegment(B32, w, sc + 32, LE);
                FloatVector m = FloatVector.broadcast(F8, sums[i >> 5]);
                s0 = ((FloatVector) mins.convertShape(B2F, F8, 0)).mul(FloatVector.fromMemorySegment(F8, w, d + 128, LE)).fma(m,
                        a0.fma(((FloatVector) g.convertShape(B2F, F8, 0)).mul(FloatVector.fromMemorySegment(F8, w, d, LE)), s0));
                s1 = ((FloatVector) mins.convertShape(B2F, F8, 1)).mul(FloatVector.fromMemorySegment(F8, w, d + 160, LE)).fma(m,
                        a1.fma(((FloatVector) g.convertShape(B2F, F8, 1)).mul(FloatVector.fromMemorySegment(F8, w, d + 32, LE)), s1));
                s2 = ((FloatVector) mins.convertShape(B2F, F8, 2)).mul(FloatVector.fromMemorySegment(F8, w, d + 192, LE)).fma(m,
                        a2.fma(((FloatVector) g.convertShape(B2F, F8, 2)).mul(FloatVector.fromMemorySegment(F8, w, d + 64, LE)), s2));
                s3 = ((FloatVector) mins.convertShape(B2F, F8, 3)).mul(FloatVector.fromMemorySegment(F8, w, d + 224, LE)).fma(m,
                        a3.fma(((FloatVector) g.convertShape(B2F, F8, 3)).mul(FloatVector.fromMemorySegment(F8, w, d + 96, LE)), s3));
                a0 = z; a1 = z; a2 = z; a3 = z;
            }
        }
        s0.intoArray(y, yo);
        s1.intoArray(y, yo + 8);
        s2.intoArray(y, yo + 16);
        s3.intoArray(y, yo + 24);
    }

    private static FloatVector scales8(MemorySegment w, long sc, long d) {
        return ((FloatVector) ByteVector.fromMemorySegment(B8, w, sc, LE).convertShape(B2F, F8, 0))
                .mul(FloatVector.fromMemorySegment(F8, w, d, LE));
    }

    /**
     * {@code strip[(i - kb) * 32 + j] = (sc * d) * q - m * dmin} for group {@code g}'s columns {@code j} and input
     * rows {@code i in [kb, kb + kc)}.
     */
    private void dequantizeStrip(int g, int kb, int kc, float[] strip) {
        long wo = g * groupBytes + weightOffset;
        for (int i0 = kb; i0 < kb + kc; i0 += 256) {
            long sb = g * groupBytes + scaleOffset + (long) SCALE_BYTES * (i0 / 256);
            for (int b = 0; b < 8; b++) {
                long sc = sb + 64 * b;
                FloatVector d0 = scales(data, sc, sb + D), d1 = scales(data, sc + 16, sb + D + 64);
                FloatVector m0 = scales(data, sc + 32, sb + D + 128), m1 = scales(data, sc + 48, sb + D + 192);
                for (int i = 32 * b; i < 32 * b + 32; i += 8) {
                    IntVector q0 = IntVector.fromMemorySegment(I, data, wo + 16L * (i0 + i), LE);
                    IntVector q1 = IntVector.fromMemorySegment(I, data, wo + 16L * (i0 + i) + 64, LE);
                    for (int j = 0; j < 8; j++) {
                        int at = (i0 + i + j - kb) * GROUP;
                        ((FloatVector) q0.lanewise(VectorOperators.LSHR, 4 * j).and(0xF).convert(VectorOperators.I2F, 0))
                                .mul(d0).sub(m0).intoArray(strip, at);
                        ((FloatVector) q1.lanewise(VectorOperators.LSHR, 4 * j).and(0xF).convert(VectorOperators.I2F, 0))
                                .mul(d1).sub(m1).intoArray(strip, at + 16);
                    }
                }
            }
        }
    }

    /** {@link #dequantizeStrip} for 256-bit vectors, in two halves of 16 columns ({@link InterleavedPrefill.Strips}). */
    private void dequantizeStrip8(int g, int kb, int kc, float[] strip) {
        int half = InterleavedPrefill.KB * 16;
        long wo = g * groupBytes + weightOffset;
        for (int i0 = kb; i0 < kb + kc; i0 += 256) {
            long sb = g * groupBytes + scaleOffset + (long) SCALE_BYTES * (i0 / 256);
            for (int b = 0; b < 8; b++) {
                long sc = sb + 64 * b;
                for (int r = 0; r < 4; r++) { // rows 8r .. 8r + 7: half r / 2, lanes 8 (r % 2) ..
                    FloatVector dr = scales8(data, sc + 8 * r, sb + D + 32 * r);
                    FloatVector mr = scales8(data, sc + 32 + 8 * r, sb + D + 128 + 32 * r);
                    int base = (r >> 1) * half + 8 * (r & 1);
                    for (int i = 32 * b; i < 32 * b + 32; i += 8) {
                        IntVector q = IntVector.fromMemorySegment(I8, data, wo + 16L * (i0 + i) + 32 * r, LE);
                        for (int j = 0; j < 8; j++) {
                            ((FloatVector) q.lanewise(VectorOperators.LSHR, 4 * j).and(0xF).convert(VectorOperators.I2F, 0))
                                    .mul(dr).sub(mr).intoArray(strip, base + (i0 + i + j - kb) * 16);
                        }
                    }
                }
            }
        }
    }
}
