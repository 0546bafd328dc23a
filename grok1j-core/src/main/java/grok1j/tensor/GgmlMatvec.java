package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * One-token products with GGUF weights (decode): {@code y[c] = row_c . x} for stored rows {@code c in [n0, n1)}.
 *
 * <p>Decode is memory-bound, so the kernels are built to keep the load ports and the memory streams busy with weight
 * bytes: Q8_0, Q4_K and Q6_K take {@link #ROWS} rows per pass, each activation vector loaded once and used for every
 * row; per-row block scales are unpacked once per superblock into a small float table. The rows of a pass come one
 * from each quarter of the range, as in {@link Int8GroupedMatrix#matvec}: each quarter is then read as one long
 * sequential stream, which the hardware prefetchers follow. Four adjacent rows per pass (four streams of one row
 * each, restarted every pass) were slower from DRAM than the one-row kernels (1 thread, CPU time: Q8_0 0.3 of the
 * read probe against 0.44), though faster in cache (0.82 against 0.70). F16 and BF16 (the tied output projection of
 * Grok-1 GGUFs is F16) take four rows per pass the same way, loading two 16-bit weights per int lane against an
 * activation split once per call into even and odd elements ({@link #pairs}). With 256-bit vectors Q8_0 takes two
 * rows ({@link #FOUR_ROWS_Q8_Q6}). The other types run one row at a time with their own vector kernels
 * ({@link GgmlKernels}); no type dequantizes a row into memory first.
 *
 * <p>Numerics (exact float32, like the official int8 path, {@link Int8GroupedMatrix}): weights are small integers
 * times block scales, both exact in float32. Per block (Q8_0) or sub-block (K types) the kernel sums {@code q * x}
 * lane-wise in float32 and then applies the block's scale once, {@code acc += (d * sc) * sum(q * x)}; the
 * {@code -dmin * m} terms of Q4_K (and the {@code m} of Q4_1/Q5_1, {@code -dmin * m} of Q2_K/Q5_K) multiply a
 * float32 sum of the sub-block's activations computed once per call ({@link #blockSums}). Lanes are reduced at the
 * end of the row.
 *
 * <p>Rules of kernels.md §4.3: every species is a static final chosen from {@link GgmlKernels#L}
 * ({@code -Dgrok1j.kernel.lanes=8|16} forces 256- or 512-bit code, so tests run both on an AVX-512 machine); one flat
 * method per type and row count; vectors only in locals.
 */
public final class GgmlMatvec {
    private GgmlMatvec() {}

    /** Float lanes per vector (see {@link GgmlKernels#L}). */
    static final int L = GgmlKernels.L;
    private static final VectorSpecies<Float> F = L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = L == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final VectorSpecies<Integer> I = L == 16 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    /** 8 bytes widened to 8 floats (256 bits, native on AVX2 and AVX-512): block scales, 8 at a time. */
    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    private static final VectorSpecies<Integer> I2 = IntVector.SPECIES_64;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT_LE = GgmlDequant.SHORT_LE;
    private static final ValueLayout.OfInt INT_LE = GgmlDequant.INT_LE;
    /** Fixed-order lane sums of the F16/BF16 kernels ({@link LaneSum}). */
    private static final jdk.incubator.vector.VectorShuffle<Float>[] FOLDS = LaneSum.folds(F);
    private static final float TWO_POW_112 = 0x1p112f;

    /** The float lanes of this JVM's kernels: 16 (512-bit vectors) or 8 (256-bit). */
    public static int lanes() {
        return L;
    }

    /** Rows per pass of the multi-row kernels. */
    public static final int ROWS = 4;

    /**
     * Whether Q8_0 and Q6_K take {@link #ROWS} rows per pass. With 256-bit vectors there are 16 vector registers, too
     * few for four rows of these two (C2 spills): forced to 8 lanes on the development VM (1 thread, CPU time, 6144 x
     * 16384) the four-row kernels made Q8_0 7.9 GB/s against 9.3 for one row at a time, Q6_K 1.4 against 3.6, while
     * Q4_K four rows still won (4.6 against 4.0). With 512-bit vectors (32 registers) four rows win for all three:
     * Q8_0 21 against 15 GB/s, Q4_K 6.7 against 4.8, Q6_K 9.3 against 7.4. With 256-bit vectors Q8_0 takes two rows
     * per pass instead ({@link #q8_0x2}).
     */
    static final boolean FOUR_ROWS_Q8_Q6 = L == 16;

    /** Per-thread scratch: activation sums per 16 elements, and the unpacked scales of a pass's rows. */
    private static final class Scratch {
        float[] sums = new float[0];
        /** The activation with each chunk of {@code 2L} elements split into even and odd elements ({@link #pairs}). */
        float[] pairs = new float[0];
        final float[] scales = new float[ROWS * 16];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code y[c] = sum_i W[c][i] * x[i]} for the stored rows {@code c in [n0, n1)} of a GGUF matrix.
     *
     * @param w        the matrix's bytes, row {@code c} at byte {@code c * rowBytes}
     * @param rowBytes bytes from one row to the next (at least the row's own size)
     * @param k        elements per row, a multiple of the type's block size
     * @param x        the activation, {@code k} floats
     * @param y        the output, indexed by row
     */
    public static void multiply(GgmlType type, MemorySegment w, long rowBytes, int k, float[] x, float[] y, int n0, int n1) {
        Scratch s = SCRATCH.get();
        switch (type) {
            case Q8_0 -> {
                int rows = FOUR_ROWS_Q8_Q6 ? ROWS : 2;
                int q = (n1 - n0) / rows;
                for (int c = n0; c < n0 + q; c++) {
                    if (FOUR_ROWS_Q8_Q6) {
                        q8_0x4(w, c * rowBytes, q * rowBytes, x, k, y, c, q);
                    } else {
                        q8_0x2(w, c * rowBytes, q * rowBytes, x, k, y, c, q);
                    }
                }
                for (int c = n0 + rows * q; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ8_0(w, c * rowBytes, x, 0, k);
                }
            }
            case Q4_K -> {
                float[] sums = blockSums(s, x, k, 32);
                int q = (n1 - n0) / ROWS;
                for (int c = n0; c < n0 + q; c++) {
                    q4_Kx4(w, c * rowBytes, q * rowBytes, x, sums, k, y, c, q, s.scales);
                }
                for (int c = n0 + ROWS * q; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ4_K(w, c * rowBytes, x, 0, k);
                }
            }
            case Q6_K -> {
                int q = FOUR_ROWS_Q8_Q6 ? (n1 - n0) / ROWS : 0;
                for (int c = n0; c < n0 + q; c++) {
                    q6_Kx4(w, c * rowBytes, q * rowBytes, x, k, y, c, q, s.scales);
                }
                for (int c = n0 + ROWS * q; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ6_K(w, c * rowBytes, x, 0, k);
                }
            }
            case Q4_0 -> {
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ4_0(w, c * rowBytes, x, 0, k);
                }
            }
            case Q4_1 -> {
                float[] sums = blockSums(s, x, k, 32);
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ4_1(w, c * rowBytes, x, sums, k);
                }
            }
            case Q5_0 -> {
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ5_0(w, c * rowBytes, x, k);
                }
            }
            case Q5_1 -> {
                float[] sums = blockSums(s, x, k, 32);
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ5_1(w, c * rowBytes, x, sums, k);
                }
            }
            case Q2_K -> {
                float[] sums = blockSums(s, x, k, 16);
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ2_K(w, c * rowBytes, x, sums, k);
                }
            }
            case Q3_K -> {
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ3_K(w, c * rowBytes, x, k, s.scales);
                }
            }
            case Q5_K -> {
                float[] sums = blockSums(s, x, k, 32);
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotQ5_K(w, c * rowBytes, x, sums, k);
                }
            }
            case F32 -> {
                for (int c = n0; c < n1; c++) {
                    y[c] = GgmlKernels.dotF32(w, c * rowBytes, x, 0, k);
                }
            }
            case F16 -> {
                float[] xp = pairs(s, x, k);
                int q = (n1 - n0) / ROWS;
                for (int c = n0; c < n0 + q; c++) {
                    f16x4(w, c * rowBytes, q * rowBytes, x, xp, k, y, c, q);
                }
                for (int c = n0 + ROWS * q; c < n1; c++) {
                    y[c] = f16x1(w, c * rowBytes, x, xp, k);
                }
            }
            case BF16 -> {
                float[] xp = pairs(s, x, k);
                int q = (n1 - n0) / ROWS;
                for (int c = n0; c < n0 + q; c++) {
                    bf16x4(w, c * rowBytes, q * rowBytes, x, xp, k, y, c, q);
                }
                for (int c = n0 + ROWS * q; c < n1; c++) {
                    y[c] = bf16x1(w, c * rowBytes, x, xp, k);
                }
            }
            default -> throw new IllegalArgumentException("tensor type " + type + " is not supported");
        }
    }

    /** {@code sums[b] = sum of x[b * size, (b + 1) * size)} in float32 (the activations' part of the mins terms). */
    static float[] blockSums(Scratch s, float[] x, int k, int size) {
        int blocks = k / size;
        if (s.sums.length < blocks) {
            s.sums = new float[Math.max(blocks, 2 * s.sums.length)];
        }
        float[] sums = s.sums;
        for (int b = 0; b < blocks; b++) {
            FloatVector v = FloatVector.fromArray(F, x, b * size);
            for (int j = L; j < size; j += L) {
                v = v.add(FloatVector.fromArray(F, x, b * size + j));
            }
            sums[b] = v.reduceLanes(VectorOperators.ADD);
        }
        return sums;
    }

    /**
     * Four Q8_0 rows at byte {@code off}, {@code rb} apart (outputs {@code y[yo + r * ys]}): per 34-byte block and
     * row, {@code 32 / L} byte loads widened to floats and multiplied with the shared activation vectors; the block's
     * scale once per block.
     */
    static void q8_0x4(MemorySegment w, long off, long rb, float[] x, int k, float[] y, int yo, int ys) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o0 = off, o1 = off + rb, o2 = off + 2 * rb, o3 = off + 3 * rb;
        for (int i = 0; i < k; i += 32, o0 += 34, o1 += 34, o2 += 34, o3 += 34) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int j = 0; j < 32; j += L) {
                FloatVector xv = FloatVector.fromArray(F, x, i + j);
                s0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o0 + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s0);
                s1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s1);
                s2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o2 + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s2);
                s3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o3 + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s3);
            }
            a0 = s0.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o0))), a0);
            a1 = s1.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o1))), a1);
            a2 = s2.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o2))), a2);
            a3 = s3.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o3))), a3);
        }
        y[yo] = a0.reduceLanes(VectorOperators.ADD);
        y[yo + ys] = a1.reduceLanes(VectorOperators.ADD);
        y[yo + 2 * ys] = a2.reduceLanes(VectorOperators.ADD);
        y[yo + 3 * ys] = a3.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Two Q8_0 rows (the 256-bit path, where four rows spill: see {@link #FOUR_ROWS_Q8_Q6}), one from each half of the
     * range. Per block and row two partial sums (even and odd chunks of {@code L} bytes) instead of one chain of
     * {@code 32 / L} dependent FMAs: the one-row kernel ({@link GgmlKernels#dotQ8_0}) ran at about the latency of that
     * chain, ~20 cycles per 34-byte block (6 GB/s from cache, 1 thread).
     */
    static void q8_0x2(MemorySegment w, long off, long rb, float[] x, int k, float[] y, int yo, int ys) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        long o0 = off, o1 = off + rb;
        for (int i = 0; i < k; i += 32, o0 += 34, o1 += 34) {
            FloatVector p0 = FloatVector.zero(F), q0 = p0, p1 = p0, q1 = p0;
            for (int j = 0; j < 32; j += 2 * L) {
                FloatVector xe = FloatVector.fromArray(F, x, i + j);
                FloatVector xo = FloatVector.fromArray(F, x, i + j + L);
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o0 + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xe, p0);
                q0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o0 + 2 + j + L, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xo, q0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xe, p1);
                q1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + 2 + j + L, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xo, q1);
            }
            a0 = p0.add(q0).fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o0))), a0);
            a1 = p1.add(q1).fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o1))), a1);
        }
        y[yo] = a0.reduceLanes(VectorOperators.ADD);
        y[yo + ys] = a1.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Unpacks the 8 six-bit scales of the Q4_K/Q5_K superblock at {@code o} times {@code d} into
     * {@code sc[at, at + 8)} and returns {@code dmin * sum_j m_j * sums[sb + j]} (the row's mins term for it). The
     * scales and mins are unpacked with the word masks of kernels.md §3 (c) and widened 8 at a time: done one by one
     * in scalar code this was about as many instructions as the superblock's vector work. No vector crosses the call.
     */
    static float kScalesAndMins(MemorySegment w, long o, float[] sums, int sb, float[] sc, int at) {
        float d = Float.float16ToFloat(w.get(SHORT_LE, o));
        float dmin = Float.float16ToFloat(w.get(SHORT_LE, o + 2));
        int u0 = w.get(INT_LE, o + 4);
        int u1 = w.get(INT_LE, o + 8);
        int u2 = w.get(INT_LE, o + 12);
        IntVector scales = IntVector.broadcast(I2, u0 & 0x3F3F3F3F)
                .withLane(1, (u2 & 0x0F0F0F0F) | (((u0 >>> 6) & 0x03030303) << 4));
        IntVector mins = IntVector.broadcast(I2, u1 & 0x3F3F3F3F)
                .withLane(1, ((u2 >>> 4) & 0x0F0F0F0F) | (((u1 >>> 6) & 0x03030303) << 4));
        ((FloatVector) scales.reinterpretAsBytes().convertShape(VectorOperators.B2F, F8, 0)).mul(d).intoArray(sc, at);
        FloatVector m = (FloatVector) mins.reinterpretAsBytes().convertShape(VectorOperators.B2F, F8, 0);
        return dmin * m.mul(FloatVector.fromArray(F8, sums, sb)).reduceLanes(VectorOperators.ADD);
    }

    /**
     * Four Q4_K rows: per superblock the rows' scales are unpacked into {@code sc}; per group of 64 elements and
     * chunk of {@code L} bytes, each row's bytes are widened once to int lanes and split into the low nibbles
     * (sub-block 2g) and high nibbles (sub-block 2g+1).
     */
    static void q4_Kx4(MemorySegment w, long off, long rb, float[] x, float[] sums, int k, float[] y, int yo, int ys, float[] sc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        long o0 = off, o1 = off + rb, o2 = off + 2 * rb, o3 = off + 3 * rb;
        for (int i = 0; i < k; i += 256, o0 += 144, o1 += 144, o2 += 144, o3 += 144) {
            int sb = i / 32;
            m0 += kScalesAndMins(w, o0, sums, sb, sc, 0);
            m1 += kScalesAndMins(w, o1, sums, sb, sc, 8);
            m2 += kScalesAndMins(w, o2, sums, sb, sc, 16);
            m3 += kScalesAndMins(w, o3, sums, sb, sc, 24);
            for (int g = 0; g < 4; g++) {
                FloatVector l0 = FloatVector.zero(F), l1 = l0, l2 = l0, l3 = l0;
                FloatVector h0 = l0, h1 = l0, h2 = l0, h3 = l0;
                long q = 16 + 32L * g;
                int xb = i + 64 * g;
                for (int j = 0; j < 32; j += L) {
                    FloatVector xl = FloatVector.fromArray(F, x, xb + j);
                    FloatVector xh = FloatVector.fromArray(F, x, xb + 32 + j);
                    IntVector v = (IntVector) ByteVector.fromMemorySegment(B, w, o0 + q + j, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    l0 = ((FloatVector) v.and(0xF).convert(VectorOperators.I2F, 0)).fma(xl, l0);
                    h0 = ((FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(0xF).convert(VectorOperators.I2F, 0)).fma(xh, h0);
                    v = (IntVector) ByteVector.fromMemorySegment(B, w, o1 + q + j, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    l1 = ((FloatVector) v.and(0xF).convert(VectorOperators.I2F, 0)).fma(xl, l1);
                    h1 = ((FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(0xF).convert(VectorOperators.I2F, 0)).fma(xh, h1);
                    v = (IntVector) ByteVector.fromMemorySegment(B, w, o2 + q + j, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    l2 = ((FloatVector) v.and(0xF).convert(VectorOperators.I2F, 0)).fma(xl, l2);
                    h2 = ((FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(0xF).convert(VectorOperators.I2F, 0)).fma(xh, h2);
                    v = (IntVector) ByteVector.fromMemorySegment(B, w, o3 + q + j, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    l3 = ((FloatVector) v.and(0xF).convert(VectorOperators.I2F, 0)).fma(xl, l3);
                    h3 = ((FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(0xF).convert(VectorOperators.I2F, 0)).fma(xh, h3);
                }
                int s = 2 * g;
                a0 = h0.fma(FloatVector.broadcast(F, sc[s + 1]), l0.fma(FloatVector.broadcast(F, sc[s]), a0));
                a1 = h1.fma(FloatVector.broadcast(F, sc[8 + s + 1]), l1.fma(FloatVector.broadcast(F, sc[8 + s]), a1));
                a2 = h2.fma(FloatVector.broadcast(F, sc[16 + s + 1]), l2.fma(FloatVector.broadcast(F, sc[16 + s]), a2));
                a3 = h3.fma(FloatVector.broadcast(F, sc[24 + s + 1]), l3.fma(FloatVector.broadcast(F, sc[24 + s]), a3));
            }
        }
        y[yo] = a0.reduceLanes(VectorOperators.ADD) - m0;
        y[yo + ys] = a1.reduceLanes(VectorOperators.ADD) - m1;
        y[yo + 2 * ys] = a2.reduceLanes(VectorOperators.ADD) - m2;
        y[yo + 3 * ys] = a3.reduceLanes(VectorOperators.ADD) - m3;
    }

    /** The 16 scales of the Q6_K superblock at {@code o}, times its {@code d}, into {@code sc[at, at + 16)} (8 at a time). */
    static void q6Scales(MemorySegment w, long o, float[] sc, int at) {
        float d = Float.float16ToFloat(w.get(SHORT_LE, o + 208));
        ((FloatVector) ByteVector.fromMemorySegment(B8, w, o + 192, LE).convertShape(VectorOperators.B2F, F8, 0))
                .mul(d).intoArray(sc, at);
        ((FloatVector) ByteVector.fromMemorySegment(B8, w, o + 200, LE).convertShape(VectorOperators.B2F, F8, 0))
                .mul(d).intoArray(sc, at + 8);
    }

    /**
     * Four Q6_K rows: per half (128 elements) and chunk of {@code L} positions, the four quarter-rows' activation
     * vectors are loaded once; per row the low nibbles of {@code ql} and the 2-bit fields of {@code qh} are combined
     * in int lanes (native shifts there) and converted. A chunk lies within one 16-element sub-block, whose scale is
     * applied to the chunk's products ({@code acc += s * (q * x)}). The rows are written out by hand: a helper
     * taking vectors may fail to inline, and then C2 boxes every vector (kernels.md §4.3).
     */
    static void q6_Kx4(MemorySegment w, long off, long rb, float[] x, int k, float[] y, int yo, int ys, float[] sc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o0 = off, o1 = off + rb, o2 = off + 2 * rb, o3 = off + 3 * rb;
        for (int i = 0; i < k; i += 256, o0 += 210, o1 += 210, o2 += 210, o3 += 210) {
            q6Scales(w, o0, sc, 0);
            q6Scales(w, o1, sc, 16);
            q6Scales(w, o2, sc, 32);
            q6Scales(w, o3, sc, 48);
            for (int n = 0; n < 2; n++) {
                for (int l = 0; l < 32; l += L) {
                    int xb = i + 128 * n + l;
                    FloatVector x1 = FloatVector.fromArray(F, x, xb);
                    FloatVector x2 = FloatVector.fromArray(F, x, xb + 32);
                    FloatVector x3 = FloatVector.fromArray(F, x, xb + 64);
                    FloatVector x4 = FloatVector.fromArray(F, x, xb + 96);
                    int si = 8 * n + l / 16;
                    long ql = 64L * n + l, qh = 128 + 32L * n + l;
                    IntVector a, b, h, q;
                    // row 0
                    a = (IntVector) ByteVector.fromMemorySegment(B, w, o0 + ql, LE).convertShape(VectorOperators.B2I, I, 0);
                    b = (IntVector) ByteVector.fromMemorySegment(B, w, o0 + ql + 32, LE).convertShape(VectorOperators.B2I, I, 0);
                    h = (IntVector) ByteVector.fromMemorySegment(B, w, o0 + qh, LE).convertShape(VectorOperators.B2I, I, 0);
                    q = a.and(0xF).or(h.lanewise(VectorOperators.LSHL, 4).and(0x30)).sub(32);
                    a0 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x1).fma(FloatVector.broadcast(F, sc[si]), a0);
                    q = b.and(0xF).or(h.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32);
                    a0 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x2).fma(FloatVector.broadcast(F, sc[si + 2]), a0);
                    q = a.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.and(0x30)).sub(32);
                    a0 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x3).fma(FloatVector.broadcast(F, sc[si + 4]), a0);
                    q = b.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.lanewise(VectorOperators.ASHR, 2).and(0x30)).sub(32);
                    a0 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x4).fma(FloatVector.broadcast(F, sc[si + 6]), a0);
                    // row 1
                    a = (IntVector) ByteVector.fromMemorySegment(B, w, o1 + ql, LE).convertShape(VectorOperators.B2I, I, 0);
                    b = (IntVector) ByteVector.fromMemorySegment(B, w, o1 + ql + 32, LE).convertShape(VectorOperators.B2I, I, 0);
                    h = (IntVector) ByteVector.fromMemorySegment(B, w, o1 + qh, LE).convertShape(VectorOperators.B2I, I, 0);
                    q = a.and(0xF).or(h.lanewise(VectorOperators.LSHL, 4).and(0x30)).sub(32);
                    a1 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x1).fma(FloatVector.broadcast(F, sc[16 + si]), a1);
                    q = b.and(0xF).or(h.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32);
                    a1 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x2).fma(FloatVector.broadcast(F, sc[16 + si + 2]), a1);
                    q = a.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.and(0x30)).sub(32);
                    a1 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x3).fma(FloatVector.broadcast(F, sc[16 + si + 4]), a1);
                    q = b.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.lanewise(VectorOperators.ASHR, 2).and(0x30)).sub(32);
                    a1 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x4).fma(FloatVector.broadcast(F, sc[16 + si + 6]), a1);
                    // row 2
                    a = (IntVector) ByteVector.fromMemorySegment(B, w, o2 + ql, LE).convertShape(VectorOperators.B2I, I, 0);
                    b = (IntVector) ByteVector.fromMemorySegment(B, w, o2 + ql + 32, LE).convertShape(VectorOperators.B2I, I, 0);
                    h = (IntVector) ByteVector.fromMemorySegment(B, w, o2 + qh, LE).convertShape(VectorOperators.B2I, I, 0);
                    q = a.and(0xF).or(h.lanewise(VectorOperators.LSHL, 4).and(0x30)).sub(32);
                    a2 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x1).fma(FloatVector.broadcast(F, sc[32 + si]), a2);
                    q = b.and(0xF).or(h.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32);
                    a2 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x2).fma(FloatVector.broadcast(F, sc[32 + si + 2]), a2);
                    q = a.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.and(0x30)).sub(32);
                    a2 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x3).fma(FloatVector.broadcast(F, sc[32 + si + 4]), a2);
                    q = b.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.lanewise(VectorOperators.ASHR, 2).and(0x30)).sub(32);
                    a2 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x4).fma(FloatVector.broadcast(F, sc[32 + si + 6]), a2);
                    // row 3
                    a = (IntVector) ByteVector.fromMemorySegment(B, w, o3 + ql, LE).convertShape(VectorOperators.B2I, I, 0);
                    b = (IntVector) ByteVector.fromMemorySegment(B, w, o3 + ql + 32, LE).convertShape(VectorOperators.B2I, I, 0);
                    h = (IntVector) ByteVector.fromMemorySegment(B, w, o3 + qh, LE).convertShape(VectorOperators.B2I, I, 0);
                    q = a.and(0xF).or(h.lanewise(VectorOperators.LSHL, 4).and(0x30)).sub(32);
                    a3 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x1).fma(FloatVector.broadcast(F, sc[48 + si]), a3);
                    q = b.and(0xF).or(h.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32);
                    a3 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x2).fma(FloatVector.broadcast(F, sc[48 + si + 2]), a3);
                    q = a.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.and(0x30)).sub(32);
                    a3 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x3).fma(FloatVector.broadcast(F, sc[48 + si + 4]), a3);
                    q = b.lanewise(VectorOperators.ASHR, 4).and(0xF).or(h.lanewise(VectorOperators.ASHR, 2).and(0x30)).sub(32);
                    a3 = ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(x4).fma(FloatVector.broadcast(F, sc[48 + si + 6]), a3);
                }
            }
        }
        y[yo] = a0.reduceLanes(VectorOperators.ADD);
        y[yo + ys] = a1.reduceLanes(VectorOperators.ADD);
        y[yo + 2 * ys] = a2.reduceLanes(VectorOperators.ADD);
        y[yo + 3 * ys] = a3.reduceLanes(VectorOperators.ADD);
    }

    /**
     * The activation for the F16/BF16 kernels: each chunk of {@code 2L} elements stored as its {@code L} even elements
     * then its {@code L} odd elements, so that one {@code L}-int load of weights (two 16-bit values per int lane) meets
     * one vector of even and one of odd activations. Elements past the last whole chunk are not copied (the kernels
     * read them from {@code x}).
     */
    static float[] pairs(Scratch s, float[] x, int k) {
        int n = k - k % (2 * L);
        if (s.pairs.length < n) {
            s.pairs = new float[Math.max(n, 2 * s.pairs.length)];
        }
        float[] p = s.pairs;
        for (int c = 0; c < n; c += 2 * L) {
            for (int j = 0; j < L; j++) {
                p[c + j] = x[c + 2 * j];
                p[c + L + j] = x[c + 2 * j + 1];
            }
        }
        return p;
    }

    /*
     * F16 pairs to floats. One int lane v holds an even half (bits 0-15) and an odd one (16-31). Shifted
     * arithmetically right by 3, a half's sign stays at bit 31 (and is copied into bits 28-30, which the mask 0x8FFFE000
     * clears), its exponent lands on bits 23-27 and its mantissa on bits 13-22: the float 2^-112 times the half's value
     * for normals, and a float subnormal that is the same for subnormals, so one multiply by 2^112 (exact) gives the
     * value; the even half is first shifted up by 16. Infinities and NaNs (exponent 31) would come out finite: instead
     * of patching every lane, (v & 0x7C007C00) + 0x04000400 sets bit 15 or 31 exactly when a half's exponent is 31;
     * those bits are OR-ed over the row, and a row that has one is computed again by the exact one-row kernel
     * (GgmlKernels.dotF16). Per 2L weights: 1 load, 5 integer ops, 2 multiplies, 2 FMAs and 3 ops for the flag,
     * against 2 x 11 for the lane-by-lane widening of dotF16.
     */

    /**
     * Four F16 rows at byte {@code off}, {@code rb} apart (outputs {@code y[yo + r * ys]}), against the even/odd
     * activation {@code xp} ({@link #pairs}); {@code x} for the elements past the last chunk. Same sums as {@link #f16x1}.
     */
    static void f16x4(MemorySegment w, long off, long rb, float[] x, float[] xp, int k, float[] y, int yo, int ys) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        IntVector flag = IntVector.zero(I);
        long o0 = off, o1 = off + rb, o2 = off + 2 * rb, o3 = off + 3 * rb;
        int n = k - k % (2 * L);
        for (int i = 0; i < n; i += 2 * L) {
            FloatVector xe = FloatVector.fromArray(F, xp, i);
            FloatVector xo = FloatVector.fromArray(F, xp, i + L);
            IntVector v;
            v = IntVector.fromMemorySegment(I, w, o0 + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a0 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().mul(TWO_POW_112).fma(xe, a0);
            a0 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(TWO_POW_112).fma(xo, a0);
            v = IntVector.fromMemorySegment(I, w, o1 + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a1 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().mul(TWO_POW_112).fma(xe, a1);
            a1 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(TWO_POW_112).fma(xo, a1);
            v = IntVector.fromMemorySegment(I, w, o2 + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a2 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().mul(TWO_POW_112).fma(xe, a2);
            a2 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(TWO_POW_112).fma(xo, a2);
            v = IntVector.fromMemorySegment(I, w, o3 + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a3 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().mul(TWO_POW_112).fma(xe, a3);
            a3 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(TWO_POW_112).fma(xo, a3);
        }
        if (flag.and(0x80008000).compare(VectorOperators.NE, 0).anyTrue()) {
            for (int r = 0; r < ROWS; r++) {
                y[yo + r * ys] = GgmlKernels.dotF16(w, off + r * rb, x, 0, k);
            }
            return;
        }
        float t0 = LaneSum.sum(a0, FOLDS), t1 = LaneSum.sum(a1, FOLDS), t2 = LaneSum.sum(a2, FOLDS), t3 = LaneSum.sum(a3, FOLDS);
        for (int i = n; i < k; i++) {
            t0 += Float.float16ToFloat(w.get(SHORT_LE, o0 + 2L * i)) * x[i];
            t1 += Float.float16ToFloat(w.get(SHORT_LE, o1 + 2L * i)) * x[i];
            t2 += Float.float16ToFloat(w.get(SHORT_LE, o2 + 2L * i)) * x[i];
            t3 += Float.float16ToFloat(w.get(SHORT_LE, o3 + 2L * i)) * x[i];
        }
        y[yo] = t0;
        y[yo + ys] = t1;
        y[yo + 2 * ys] = t2;
        y[yo + 3 * ys] = t3;
    }

    /** One F16 row at byte {@code off}: the arithmetic of one row of {@link #f16x4}, so results do not depend on the split. */
    static float f16x1(MemorySegment w, long off, float[] x, float[] xp, int k) {
        FloatVector a0 = FloatVector.zero(F);
        IntVector flag = IntVector.zero(I);
        int n = k - k % (2 * L);
        for (int i = 0; i < n; i += 2 * L) {
            IntVector v = IntVector.fromMemorySegment(I, w, off + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a0 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().mul(TWO_POW_112).fma(FloatVector.fromArray(F, xp, i), a0);
            a0 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(TWO_POW_112)
                    .fma(FloatVector.fromArray(F, xp, i + L), a0);
        }
        if (flag.and(0x80008000).compare(VectorOperators.NE, 0).anyTrue()) {
            return GgmlKernels.dotF16(w, off, x, 0, k);
        }
        float t0 = LaneSum.sum(a0, FOLDS);
        for (int i = n; i < k; i++) {
            t0 += Float.float16ToFloat(w.get(SHORT_LE, off + 2L * i)) * x[i];
        }
        return t0;
    }

    /**
     * Four BF16 rows (as {@link #f16x4}): an int lane's low half shifted up by 16 is the even element's float, the
     * lane with its low half cleared the odd one's. Even and odd products go to separate accumulators (eight FMA
     * chains, to cover the FMA latency: the loop has little else to do).
     */
    static void bf16x4(MemorySegment w, long off, long rb, float[] x, float[] xp, int k, float[] y, int yo, int ys) {
        FloatVector e0 = FloatVector.zero(F), e1 = e0, e2 = e0, e3 = e0, d0 = e0, d1 = e0, d2 = e0, d3 = e0;
        long o0 = off, o1 = off + rb, o2 = off + 2 * rb, o3 = off + 3 * rb;
        int n = k - k % (2 * L);
        for (int i = 0; i < n; i += 2 * L) {
            FloatVector xe = FloatVector.fromArray(F, xp, i);
            FloatVector xo = FloatVector.fromArray(F, xp, i + L);
            IntVector v;
            v = IntVector.fromMemorySegment(I, w, o0 + 2L * i, LE);
            e0 = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e0);
            d0 = v.and(0xFFFF0000).reinterpretAsFloats().fma(xo, d0);
            v = IntVector.fromMemorySegment(I, w, o1 + 2L * i, LE);
            e1 = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e1);
            d1 = v.and(0xFFFF0000).reinterpretAsFloats().fma(xo, d1);
            v = IntVector.fromMemorySegment(I, w, o2 + 2L * i, LE);
            e2 = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e2);
            d2 = v.and(0xFFFF0000).reinterpretAsFloats().fma(xo, d2);
            v = IntVector.fromMemorySegment(I, w, o3 + 2L * i, LE);
            e3 = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e3);
            d3 = v.and(0xFFFF0000).reinterpretAsFloats().fma(xo, d3);
        }
        float t0 = LaneSum.sum(e0.add(d0), FOLDS), t1 = LaneSum.sum(e1.add(d1), FOLDS);
        float t2 = LaneSum.sum(e2.add(d2), FOLDS), t3 = LaneSum.sum(e3.add(d3), FOLDS);
        for (int i = n; i < k; i++) {
            t0 += BFloat16.toFloat(w.get(SHORT_LE, o0 + 2L * i)) * x[i];
            t1 += BFloat16.toFloat(w.get(SHORT_LE, o1 + 2L * i)) * x[i];
            t2 += BFloat16.toFloat(w.get(SHORT_LE, o2 + 2L * i)) * x[i];
            t3 += BFloat16.toFloat(w.get(SHORT_LE, o3 + 2L * i)) * x[i];
        }
        y[yo] = t0;
        y[yo + ys] = t1;
        y[yo + 2 * ys] = t2;
        y[yo + 3 * ys] = t3;
    }

    /** One BF16 row: the arithmetic of one row of {@link #bf16x4}. */
    static float bf16x1(MemorySegment w, long off, float[] x, float[] xp, int k) {
        FloatVector e0 = FloatVector.zero(F), d0 = e0;
        int n = k - k % (2 * L);
        for (int i = 0; i < n; i += 2 * L) {
            IntVector v = IntVector.fromMemorySegment(I, w, off + 2L * i, LE);
            e0 = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, i), e0);
            d0 = v.and(0xFFFF0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, i + L), d0);
        }
        float t0 = LaneSum.sum(e0.add(d0), FOLDS);
        for (int i = n; i < k; i++) {
            t0 += BFloat16.toFloat(w.get(SHORT_LE, off + 2L * i)) * x[i];
        }
        return t0;
    }
}
