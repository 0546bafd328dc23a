package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * One-token products with GGUF weights (decode): {@code y[c] = row_c . x} for stored rows {@code c in [n0, n1)}.
 *
 * <p>Decode is memory-bound, so the kernels are built to keep the load ports and the memory streams busy with weight
 * bytes: Q8_0, Q4_K and Q6_K take {@link #ROWS} rows per pass, each activation vector loaded once and used for every
 * row. The rows of a pass come one from each quarter of the range, as in {@link Int8GroupedMatrix#matvec}: each
 * quarter is then read as one long sequential stream, which the hardware prefetchers follow. The other types run one
 * row at a time with their own vector kernels ({@link GgmlKernels}); no type dequantizes a row into memory first.
 * F16 and BF16 (the tied output projection of Grok-1 GGUFs is F16) take four rows per pass the same way, loading two
 * 16-bit weights per int lane against an activation split once per call into even and odd elements
 * ({@link #pairs}). With 256-bit vectors Q8_0 takes two rows ({@link #FOUR_ROWS_Q8_Q6}).
 *
 * <p>The Q4_K and Q6_K kernels read their packed bits as whole int vectors (64 bytes with 512-bit vectors, four rows
 * per pass; 32 bytes with 256-bit vectors, two rows, as 16 registers hold no more) and never widen bytes with
 * shuffles: every weight is cut out of its int lane by a mask in place ({@code v & (0xF << 8b)}), then converted and
 * multiplied. That puts the weights of a vector in an order of their own, so the activation is permuted once per call
 * into that order ({@link #Q4K_ORDER}, {@link #Q6K_ORDER}; 6144 floats, against megabytes of weights), with a power
 * of two per slot that undoes the mask's place. Against the widening kernels, 1 thread from cache, same run (load
 * ~3): Q4_K 1.4x with 512-bit vectors and 1.75x with 256-bit ones, Q6_K 1.3x and 2.2x (the 256-bit Q6_K had been one
 * row at a time). Lessons from C2 (kernels.md §4.3): vector species narrower than 128 bits (a 2-lane int vector, 8
 * bytes widened to floats) were not intrinsified and ran the Vector API's Java fallback, which took most of the time
 * of the Q4_K and Q6_K kernels before; and the 512-bit kernels written out by hand over their bytes were fast in a
 * stand-alone harness but outgrew C2's inlining budget inside the running model, where some vector calls stayed out
 * of line with the same fallback (2-layer Q6_K file: 212 ms per layer, 81 with one loop body over both nibble halves
 * and the four bytes). Kernel changes are profiled in the model, not only in a harness.
 *
 * <p>Numerics (exact float32, like the official int8 path, {@link Int8GroupedMatrix}): weights are small integers
 * times block scales, both exact in float32. Per block (Q8_0) or sub-block (K types) the kernel sums {@code q * x}
 * lane-wise in float32 and then applies the block's scale once, {@code acc += (d * sc) * sum(q * x)}; the
 * {@code -dmin * m} terms of Q4_K (and the {@code m} of Q4_1/Q5_1, {@code -dmin * m} of Q2_K/Q5_K) multiply a
 * float32 sum of the sub-block's activations computed once per call ({@link #blockSums}), and so does Q6_K's offset
 * 32 in the permuted kernel. Lanes are reduced at the end of the row.
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
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT_LE = GgmlDequant.SHORT_LE;
    private static final ValueLayout.OfInt INT_LE = GgmlDequant.INT_LE;
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);
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
    static final class Scratch {
        float[] sums = new float[0];
        final float[] scales = new float[ROWS * 16 + 16];
        float[] permuted = new float[0];
        float[] sums16 = new float[0];
        /** Per row of a pass, 16 lanes of the Q6_K offset-32 terms ({@link #q6kHeader}; the 256-bit kernel keeps them in registers). */
        final float[] mins = new float[ROWS * 16];
        /** The activation with each chunk of {@code 2L} elements split into even and odd elements ({@link #pairs}). */
        float[] pairs = new float[0];
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
                if (L == 16) {
                    int q = (n1 - n0) / ROWS;
                    if (q > 0) {
                        float[] xp = permute(s, x, k, Q4K_ORDER, Q4K_UNIT);
                        float[] sums16 = sums16(sums, k, s);
                        for (int c = n0; c < n0 + q; c++) {
                            q4_Kx4p(w, c * rowBytes, q * rowBytes, xp, sums16, k, y, c, q, s.scales);
                        }
                    }
                    for (int c = n0 + ROWS * q; c < n1; c++) {
                        y[c] = GgmlKernels.dotQ4_K(w, c * rowBytes, x, 0, k);
                    }
                } else { // 256-bit vectors: 16 registers hold two rows
                    int h = (n1 - n0) / 2;
                    if (h > 0) {
                        float[] xp = permute(s, x, k, Q4K_ORDER, Q4K_UNIT);
                        for (int c = n0; c < n0 + h; c++) {
                            q4_Kx2p(w, c * rowBytes, h * rowBytes, xp, sums, k, y, c, h, s.scales);
                        }
                    }
                    for (int c = n0 + 2 * h; c < n1; c++) {
                        y[c] = GgmlKernels.dotQ4_K(w, c * rowBytes, x, 0, k);
                    }
                }
            }
            case Q6_K -> {
                int q = L == 16 ? (n1 - n0) / ROWS : (n1 - n0) / 2;
                if (q > 0) {
                    float[] xp = permute(s, x, k, Q6K_ORDER, Q6K_UNIT);
                    float[] sums = blockSums(s, x, k, 16);
                    for (int c = n0; c < n0 + q; c++) {
                        if (L == 16) {
                            q6_Kx4p(w, c * rowBytes, q * rowBytes, xp, sums, k, y, c, q, s.scales, s.mins);
                        } else { // 256-bit vectors: two rows
                            q6_Kx2p(w, c * rowBytes, q * rowBytes, xp, sums, k, y, c, q, s.scales);
                        }
                    }
                }
                q = L == 16 ? ROWS * q : 2 * q;
                for (int c = n0 + q; c < n1; c++) {
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
                float[] xp = scaledPairs(s, x, k);
                if (xp == null) { // an activation of 2^15 or more (or NaN): the exact one-row kernel, unscaled
                    for (int c = n0; c < n1; c++) {
                        y[c] = GgmlKernels.dotF16(w, c * rowBytes, x, 0, k);
                    }
                    return;
                }
                int q = (n1 - n0) / ROWS;
                float[] lanes = LaneSum.scratch();
                for (int c = n0; c < n0 + q; c++) {
                    f16x4(w, c * rowBytes, q * rowBytes, x, xp, k, y, c, q, lanes);
                }
                for (int c = n0 + ROWS * q; c < n1; c++) {
                    y[c] = f16x1(w, c * rowBytes, x, xp, k, lanes);
                }
            }
            case BF16 -> {
                float[] xp = pairs(s, x, k, 1f);
                int q = (n1 - n0) / ROWS;
                float[] lanes = LaneSum.scratch();
                for (int c = n0; c < n0 + q; c++) {
                    bf16x4(w, c * rowBytes, q * rowBytes, x, xp, k, y, c, q, lanes);
                }
                for (int c = n0 + ROWS * q; c < n1; c++) {
                    y[c] = bf16x1(w, c * rowBytes, x, xp, k, lanes);
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
            v = v.add(v.rearrange(LaneSum.FOLD_1)); // a fixed order in every JIT tier (LaneSum.FOLD_1)
            v = v.add(v.rearrange(LaneSum.FOLD_2));
            v = v.add(v.rearrange(LaneSum.FOLD_3));
            if (L == 16) {
                v = v.add(v.rearrange(LaneSum.FOLD_4));
            }
            sums[b] = v.lane(0);
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
        final long o1 = off + rb, o2 = off + 2 * rb, o3 = off + 3 * rb;
        final int blocks = k / 32;
        // every byte offset is (long) b * 34 plus a loop invariant, not four long counters: C2 keeps fewer values
        // in registers and on the stack (one thread, from cache: 25 -> 29 GB/s on Zen 5)
        for (int b = 0; b < blocks; b++) {
            final long ob = (long) b * 34;
            final int i = b * 32;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int j = 0; j < 32; j += L) {
                FloatVector xv = FloatVector.fromArray(F, x, i + j);
                s0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, off + ob + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s0);
                s1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + ob + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s1);
                s2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o2 + ob + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s2);
                s3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o3 + ob + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xv, s3);
            }
            a0 = s0.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, off + ob))), a0);
            a1 = s1.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o1 + ob))), a1);
            a2 = s2.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o2 + ob))), a2);
            a3 = s3.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o3 + ob))), a3);
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector r0 = a0;
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_1));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_2));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r0 = r0.add(r0.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r1 = a1;
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_1));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_2));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r1 = r1.add(r1.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r2 = a2;
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_1));
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_2));
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r2 = r2.add(r2.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r3 = a3;
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_1));
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_2));
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r3 = r3.add(r3.rearrange(LaneSum.FOLD_4));
        }
        y[yo] = r0.lane(0);
        y[yo + ys] = r1.lane(0);
        y[yo + 2 * ys] = r2.lane(0);
        y[yo + 3 * ys] = r3.lane(0);
    }

    /**
     * Two Q8_0 rows (the 256-bit path, where four rows spill: see {@link #FOUR_ROWS_Q8_Q6}), one from each half of the
     * range. Per block and row two partial sums (even and odd chunks of {@code L} bytes) instead of one chain of
     * {@code 32 / L} dependent FMAs: the one-row kernel ({@link GgmlKernels#dotQ8_0}) ran at about the latency of that
     * chain, ~20 cycles per 34-byte block (6 GB/s from cache, 1 thread).
     */
    static void q8_0x2(MemorySegment w, long off, long rb, float[] x, int k, float[] y, int yo, int ys) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        final long o1 = off + rb;
        final int blocks = k / 32;
        for (int b = 0; b < blocks; b++) { // offsets affine in b: see q8_0x4
            final long ob = (long) b * 34;
            final int i = b * 32;
            FloatVector p0 = FloatVector.zero(F), q0 = p0, p1 = p0, q1 = p0;
            for (int j = 0; j < 32; j += 2 * L) {
                FloatVector xe = FloatVector.fromArray(F, x, i + j);
                FloatVector xo = FloatVector.fromArray(F, x, i + j + L);
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, off + ob + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xe, p0);
                q0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, off + ob + 2 + j + L, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xo, q0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + ob + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xe, p1);
                q1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + ob + 2 + j + L, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).fma(xo, q1);
            }
            a0 = p0.add(q0).fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, off + ob))), a0);
            a1 = p1.add(q1).fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(SHORT_LE, o1 + ob))), a1);
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector r0 = a0;
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_1));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_2));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r0 = r0.add(r0.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r1 = a1;
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_1));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_2));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r1 = r1.add(r1.rearrange(LaneSum.FOLD_4));
        }
        y[yo] = r0.lane(0);
        y[yo + ys] = r1.lane(0);
    }

    /**
     * Where each weight of a Q4_K superblock lands when its 128 bytes of nibbles are read as int lanes: a load of
     * {@code 4L} bytes (lanes {@code m < L}, bytes {@code b < 4} of each lane) gives, for each of the 8 nibble
     * positions {@code p = 2b + t} ({@code t = 0} low, 1 high), one vector of {@code L} weights. The activation is
     * permuted once per call into that order ({@code Q4K_ORDER[j]} = the superblock element that slot {@code j}
     * multiplies), so the kernel needs no widening shuffles: a shift, a mask and a conversion per vector of weights.
     */
    static final int[] Q4K_ORDER = q4kOrder(L);

    /**
     * The power of two that undoes a nibble's place in its int lane: the kernel masks nibble {@code p} in place (one
     * operation per vector instead of a shift and a mask) and converts {@code q * 2^place} to float, exactly; the
     * activation slot carries {@code 2^-place}, so each product equals {@code q * x} (both scalings are exact, short of
     * activations below 2^-100). The kernels mask the low nibble of byte {@code b} in {@code v} and the high one in
     * {@code v >>> 4} (place {@code 8b} for both).
     */
    static final float[] Q4K_UNIT = q4kUnit(L);

    static float[] q4kUnit(int lanes) {
        float[] unit = new float[256];
        for (int j = 0; j < 256; j++) {
            int p = j % (8 * lanes) / lanes;
            unit[j] = Math.scalb(1f, -8 * (p >> 1));
        }
        return unit;
    }

    static int[] q4kOrder(int lanes) {
        int[] order = new int[256];
        for (int load = 0; load < 128 / (4 * lanes); load++) {
            for (int p = 0; p < 8; p++) {
                for (int m = 0; m < lanes; m++) {
                    int b = p >> 1, t = p & 1;
                    int byteIndex = 4 * lanes * load + 4 * m + b; // within the superblock's 128 bytes of nibbles
                    order[8 * lanes * load + lanes * p + m] = 64 * (byteIndex / 32) + 32 * t + byteIndex % 32;
                }
            }
        }
        return order;
    }

    private static final VectorShuffle<Float> SC_LO0 = VectorShuffle.fromOp(F, i -> i < L / 2 ? 0 : 2);
    private static final VectorShuffle<Float> SC_HI0 = VectorShuffle.fromOp(F, i -> i < L / 2 ? 1 : 3);
    private static final VectorShuffle<Float> SC_LO1 = VectorShuffle.fromOp(F, i -> i < L / 2 ? 4 : 6);
    private static final VectorShuffle<Float> SC_HI1 = VectorShuffle.fromOp(F, i -> i < L / 2 ? 5 : 7);


    private static final VectorSpecies<Integer> I4 = IntVector.SPECIES_128;
    private static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    /** Picks [u0, u2, u1, u2] and [u0, u0, u1, u1] out of the lanes [d|dmin, u0, u1, u2] of a Q4_K header. */
    private static final VectorShuffle<Integer> K_LOW = VectorShuffle.fromValues(I4, 1, 3, 2, 3);
    private static final VectorShuffle<Integer> K_HIGH = VectorShuffle.fromValues(I4, 1, 1, 2, 2);
    private static final IntVector K_SHIFT = IntVector.fromArray(I4, new int[] {0, 0, 0, 4}, 0);
    private static final IntVector K_MASK = IntVector.fromArray(I4, new int[] {0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F}, 0);
    private static final IntVector K_TOP = IntVector.fromArray(I4, new int[] {0, 0x30303030, 0, 0x30303030}, 0);
    private static final VectorMask<Float> UPPER_HALF = VectorMask.fromLong(F, L == 16 ? 0xFF00L : 0xF0L);

    /**
     * The 8 scales and 8 mins of the Q4_K superblock at {@code o} as 16 floats {@code [d * sc_0..7, dmin * m_0..7]}
     * (each product exact) into {@code sc[at, at + 16)}, unpacked with 128-bit vectors (kernels.md §3 (c): the three
     * packed words rearranged, masked and or-ed into 16 six-bit bytes, then widened once); {@code d} and
     * {@code dmin} come out of the same load (its first int lane). 512-bit vectors only.
     */
    static void q4kScales(MemorySegment w, long o, float[] sc, int at) {
        IntVector v = IntVector.fromMemorySegment(I4, w, o, LE);
        IntVector six = v.rearrange(K_LOW).lanewise(VectorOperators.LSHR, K_SHIFT).and(K_MASK)
                .or(v.rearrange(K_HIGH).lanewise(VectorOperators.LSHR, 2).and(K_TOP));
        int halves = v.lane(0);
        float d = Float.float16ToFloat((short) halves);
        float dmin = Float.float16ToFloat((short) (halves >>> 16));
        ((FloatVector) six.reinterpretAsBytes().convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.broadcast(F, d).blend(dmin, UPPER_HALF)).intoArray(sc, at);
    }

    /**
     * Four Q4_K rows with 512-bit vectors on the permuted activation ({@link #Q4K_ORDER}): per superblock and row two
     * 64-byte loads, each split into 8 vectors of nibbles by shift and mask (lanes 0-7 from one group of 64 weights,
     * 8-15 from the next); low and high nibbles accumulate apart and take their sub-blocks' scales as vectors.
     *
     * <p>The rows' scales ({@link #q4kScales}) are loaded once per superblock and the mins terms ({@code dmin * m_j *
     * sums_j}, lanes 8-15 of {@code m0..m3}, subtracted at the end of the row) stay in registers. They used to go
     * through arrays (a load of the scales per use, a load and store of the mins terms per superblock, two scalar
     * reads of the halves per row): one thread, 6144 x 256 (from cache), 10.9 -> 16.0 GB/s; 6144 x 32768 from
     * memory, 11.8 -> 16.3 GB/s with one thread, 21.4 -> 26.4 with two (best of 8 interleaved passes); the same
     * bits. (The Q6_K kernel did not gain from the same change: its inner loop has more vectors live, and the scales
     * held in registers made C2 spill.)
     */
    static void q4_Kx4p(MemorySegment w, long off, long rb, float[] xp, float[] sums16, int k, float[] y, int yo, int ys, float[] sc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        FloatVector m0 = a0, m1 = a0, m2 = a0, m3 = a0;
        for (int i = 0; i < k; i += 256) { // offsets affine in the superblock index (see q8_0x4)
            final long os = (long) (i >> 8) * 144;
            final long o0 = off + os, o1 = o0 + rb, o2 = o0 + 2 * rb, o3 = o0 + 3 * rb;
            q4kScales(w, o0, sc, 0);
            q4kScales(w, o1, sc, 16);
            q4kScales(w, o2, sc, 32);
            q4kScales(w, o3, sc, 48);
            FloatVector s0 = FloatVector.fromArray(F, sc, 0), s1 = FloatVector.fromArray(F, sc, 16);
            FloatVector s2 = FloatVector.fromArray(F, sc, 32), s3 = FloatVector.fromArray(F, sc, 48);
            FloatVector sums = FloatVector.fromArray(F, sums16, i / 16);
            m0 = s0.fma(sums, m0);
            m1 = s1.fma(sums, m1);
            m2 = s2.fma(sums, m2);
            m3 = s3.fma(sums, m3);
            for (int h = 0; h < 2; h++) {
                long q = 16 + 64L * h;
                int xb = i + 128 * h;
                // t = 0: low nibbles of byte b masked in place (q * 2^8b); t = 1: the same of v >>> 4. One loop body
                // for both and all four bytes: written out, the kernel outgrew C2's inlining budget in the running
                // model and its vector calls fell back to the Vector API's Java code.
                for (int t = 0; t < 2; t++) {
                    IntVector v0 = IntVector.fromMemorySegment(I, w, o0 + q, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    IntVector v1 = IntVector.fromMemorySegment(I, w, o1 + q, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    IntVector v2 = IntVector.fromMemorySegment(I, w, o2 + q, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    IntVector v3 = IntVector.fromMemorySegment(I, w, o3 + q, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    FloatVector l0 = FloatVector.zero(F), l1 = l0, l2 = l0, l3 = l0;
                    for (int b = 0; b < 4; b++) {
                        int nibble = 0xF << 8 * b;
                        FloatVector xv = FloatVector.fromArray(F, xp, xb + (2 * b + t) * L);
                        l0 = ((FloatVector) v0.and(nibble).convert(VectorOperators.I2F, 0)).fma(xv, l0);
                        l1 = ((FloatVector) v1.and(nibble).convert(VectorOperators.I2F, 0)).fma(xv, l1);
                        l2 = ((FloatVector) v2.and(nibble).convert(VectorOperators.I2F, 0)).fma(xv, l2);
                        l3 = ((FloatVector) v3.and(nibble).convert(VectorOperators.I2F, 0)).fma(xv, l3);
                    }
                    VectorShuffle<Float> scales = h == 0 ? (t == 0 ? SC_LO0 : SC_HI0) : (t == 0 ? SC_LO1 : SC_HI1);
                    a0 = l0.fma(s0.rearrange(scales), a0);
                    a1 = l1.fma(s1.rearrange(scales), a1);
                    a2 = l2.fma(s2.rearrange(scales), a2);
                    a3 = l3.fma(s3.rearrange(scales), a3);
                }
            }
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector r0 = a0.sub(m0);
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_1));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_2));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r0 = r0.add(r0.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r1 = a1.sub(m1);
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_1));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_2));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r1 = r1.add(r1.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r2 = a2.sub(m2);
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_1));
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_2));
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r2 = r2.add(r2.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r3 = a3.sub(m3);
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_1));
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_2));
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r3 = r3.add(r3.rearrange(LaneSum.FOLD_4));
        }
        y[yo] = r0.lane(0);
        y[yo + ys] = r1.lane(0);
        y[yo + 2 * ys] = r2.lane(0);
        y[yo + 3 * ys] = r3.lane(0);
    }

    /** {@code sums16[2 * b .. 2 * b + 16)} = 8 zeros, then the sums of the 8 sub-blocks of superblock {@code b / 8}: the mins' partners in {@link #q4_Kx4p}. */
    static float[] sums16(float[] sums, int k, Scratch s) {
        if (s.sums16.length < k / 16) {
            s.sums16 = new float[k / 16];
        }
        float[] out = s.sums16;
        for (int b = 0; b < k / 32; b += 8) {
            java.util.Arrays.fill(out, 2 * b, 2 * b + 8, 0f);
            System.arraycopy(sums, b, out, 2 * b + 8, 8);
        }
        return out;
    }

    /**
     * Q6_K's counterpart of {@link #Q4K_ORDER}: a half superblock (128 weights) is read as 64 bytes of {@code ql}
     * (int lanes 0-7 the bytes {@code l < 32}, lanes 8-15 the bytes {@code 32 + l}) and its 32 bytes of {@code qh} in both
     * halves of a vector; nibble {@code p = 2b + t} of lane {@code m} is weight {@code 128n + 64t + (m < 8 ? 0 : 32) +
     * 4(m % 8) + b}, masked in place as {@code q * 2^8b} (high nibbles after a shift by 4), which the slot's power
     * of two undoes. 512-bit vectors only.
     */
    static final int[] Q6K_ORDER = new int[256];
    static final float[] Q6K_UNIT = new float[256];

    static {
        for (int n = 0; n < 2; n++) {
            for (int load = 0; load < 16 / L; load++) {
                for (int p = 0; p < 8; p++) {
                    for (int m = 0; m < L; m++) {
                        int b = p >> 1, t = p & 1;
                        int byteIndex = 4 * L * load + 4 * m + b; // within the half's 64 bytes of ql
                        int slot = 128 * n + 8 * L * load + L * p + m;
                        Q6K_ORDER[slot] = 128 * n + 32 * (byteIndex / 32) + 64 * t + byteIndex % 32;
                        Q6K_UNIT[slot] = Math.scalb(1f, -8 * b);
                    }
                }
            }
        }
    }

    static float[] permute(Scratch s, float[] x, int k, int[] order, float[] unit) {
        if (s.permuted.length < k) {
            s.permuted = new float[k];
        }
        float[] xp = s.permuted;
        for (int sb = 0; sb < k; sb += 256) {
            for (int j = 0; j < 256; j++) {
                xp[sb + j] = x[sb + order[j]] * unit[j];
            }
        }
        return xp;
    }

    /** Both halves of a vector from the 8 ints of {@code qh} at lanes 0-7 ({@code n = 0}) or 8-15. */
    private static final VectorShuffle<Integer> QH_LOW = VectorShuffle.fromOp(I, i -> i % 8);
    private static final VectorShuffle<Integer> QH_HIGH = VectorShuffle.fromOp(I, i -> 8 + i % 8);
    /** Lanes 8-15 (the bytes {@code 32 + l}) take the next two bits of each {@code qh} byte. */
    private static final IntVector QH_SHIFT = IntVector.fromArray(I, new int[] {0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2}, 0);
    /** Scales of the low nibbles of half {@code n} (sub-blocks {@code 8n .. 8n+3}, four lanes each) and of the high ones. */
    private static final VectorShuffle<Float> Q6_LO0 = VectorShuffle.fromOp(F, i -> i / 4);
    private static final VectorShuffle<Float> Q6_HI0 = VectorShuffle.fromOp(F, i -> 4 + i / 4);
    private static final VectorShuffle<Float> Q6_LO1 = VectorShuffle.fromOp(F, i -> 8 + i / 4);
    private static final VectorShuffle<Float> Q6_HI1 = VectorShuffle.fromOp(F, i -> 12 + i / 4);

    /**
     * The 16 scales of the Q6_K superblock at {@code o} times its {@code d}, into {@code sc[at, at + 16)}, and
     * {@code macc[at + j] += d * scale_j * sums[16 * sb16 + j]} (the offset-32 terms, subtracted at the end of the row).
     */
    static void q6kHeader(MemorySegment w, long o, float[] sums, int sb16, float[] sc, float[] macc, int at) {
        float d = Float.float16ToFloat(w.get(SHORT_LE, o + 208));
        FloatVector r = ((FloatVector) ByteVector.fromMemorySegment(B16, w, o + 192, LE)
                .convertShape(VectorOperators.B2F, F, 0)).mul(d);
        r.intoArray(sc, at);
        r.fma(FloatVector.fromArray(F, sums, sb16), FloatVector.fromArray(F, macc, at)).intoArray(macc, at);
    }

    /** The bits of each byte that the Q6_K kernels take from {@code qh} (bits 4-5) rather than from {@code ql}. */
    private static final IntVector QH_BITS = IntVector.broadcast(I, 0x30303030);

    /**
     * Four Q6_K rows with 512-bit vectors on the permuted activation ({@link #Q6K_ORDER}): per half superblock and row
     * one 64-byte load of {@code ql} and one of {@code qh} (both halves' bits, rearranged into place), merged by one
     * bitwise blend per vector of 64 bytes (a {@code vpternlogd}; it was two masks and an or per vector of weights);
     * then each weight is a mask in its int lane, a conversion and an FMA. The offset 32 is taken out once per sub-block
     * with the activation sums ({@link #q6kHeader}).
     */
    static void q6_Kx4p(MemorySegment w, long off, long rb, float[] xp, float[] sums, int k, float[] y, int yo, int ys, float[] sc, float[] macc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        java.util.Arrays.fill(macc, 0, 64, 0f);
        for (int i = 0; i < k; i += 256) { // offsets affine in the superblock index (see q8_0x4)
            final long os = (long) (i >> 8) * 210;
            final long o0 = off + os, o1 = o0 + rb, o2 = o0 + 2 * rb, o3 = o0 + 3 * rb;
            q6kHeader(w, o0, sums, i / 16, sc, macc, 0);
            q6kHeader(w, o1, sums, i / 16, sc, macc, 16);
            q6kHeader(w, o2, sums, i / 16, sc, macc, 32);
            q6kHeader(w, o3, sums, i / 16, sc, macc, 48);
            for (int n = 0; n < 2; n++) {
                VectorShuffle<Integer> pick = n == 0 ? QH_LOW : QH_HIGH;
                long ql = 64L * n;
                int xb = i + 128 * n;
                // t = 0, low nibbles: q & (0xF << 8b) | (qh bits << 4) & (0x30 << 8b) = value * 2^8b;
                // t = 1, high nibbles: the same of q >>> 4 and the qh bits in place. One loop body for both halves
                // and all four bytes: written out, the kernel outgrew C2's inlining budget in the running model and
                // its vector calls fell back to the Vector API's Java code.
                for (int t = 0; t < 2; t++) {
                    IntVector q0 = IntVector.fromMemorySegment(I, w, o0 + ql, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    IntVector q1 = IntVector.fromMemorySegment(I, w, o1 + ql, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    IntVector q2 = IntVector.fromMemorySegment(I, w, o2 + ql, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    IntVector q3 = IntVector.fromMemorySegment(I, w, o3 + ql, LE).lanewise(VectorOperators.LSHR, 4 * t);
                    IntVector u0 = IntVector.fromMemorySegment(I, w, o0 + 128, LE).rearrange(pick).lanewise(VectorOperators.LSHR, QH_SHIFT).lanewise(VectorOperators.LSHL, 4 - 4 * t);
                    IntVector u1 = IntVector.fromMemorySegment(I, w, o1 + 128, LE).rearrange(pick).lanewise(VectorOperators.LSHR, QH_SHIFT).lanewise(VectorOperators.LSHL, 4 - 4 * t);
                    IntVector u2 = IntVector.fromMemorySegment(I, w, o2 + 128, LE).rearrange(pick).lanewise(VectorOperators.LSHR, QH_SHIFT).lanewise(VectorOperators.LSHL, 4 - 4 * t);
                    IntVector u3 = IntVector.fromMemorySegment(I, w, o3 + 128, LE).rearrange(pick).lanewise(VectorOperators.LSHR, QH_SHIFT).lanewise(VectorOperators.LSHL, 4 - 4 * t);
                    // bits 4-5 of every byte from qh, the rest from ql (one vpternlogd), then 6 bits cut out in place
                    IntVector c0 = q0.bitwiseBlend(u0, QH_BITS), c1 = q1.bitwiseBlend(u1, QH_BITS);
                    IntVector c2 = q2.bitwiseBlend(u2, QH_BITS), c3 = q3.bitwiseBlend(u3, QH_BITS);
                    FloatVector l0 = FloatVector.zero(F), l1 = l0, l2 = l0, l3 = l0;
                    for (int b = 0; b < 4; b++) {
                        int six = 0x3F << 8 * b;
                        FloatVector xv = FloatVector.fromArray(F, xp, xb + (2 * b + t) * L);
                        l0 = ((FloatVector) c0.and(six).convert(VectorOperators.I2F, 0)).fma(xv, l0);
                        l1 = ((FloatVector) c1.and(six).convert(VectorOperators.I2F, 0)).fma(xv, l1);
                        l2 = ((FloatVector) c2.and(six).convert(VectorOperators.I2F, 0)).fma(xv, l2);
                        l3 = ((FloatVector) c3.and(six).convert(VectorOperators.I2F, 0)).fma(xv, l3);
                    }
                    VectorShuffle<Float> scales = n == 0 ? (t == 0 ? Q6_LO0 : Q6_HI0) : (t == 0 ? Q6_LO1 : Q6_HI1);
                    a0 = l0.fma(FloatVector.fromArray(F, sc, 0).rearrange(scales), a0);
                    a1 = l1.fma(FloatVector.fromArray(F, sc, 16).rearrange(scales), a1);
                    a2 = l2.fma(FloatVector.fromArray(F, sc, 32).rearrange(scales), a2);
                    a3 = l3.fma(FloatVector.fromArray(F, sc, 48).rearrange(scales), a3);
                }
            }
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector r0 = a0.sub(FloatVector.fromArray(F, macc, 0).mul(32f));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_1));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_2));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r0 = r0.add(r0.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r1 = a1.sub(FloatVector.fromArray(F, macc, 16).mul(32f));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_1));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_2));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r1 = r1.add(r1.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r2 = a2.sub(FloatVector.fromArray(F, macc, 32).mul(32f));
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_1));
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_2));
        r2 = r2.add(r2.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r2 = r2.add(r2.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r3 = a3.sub(FloatVector.fromArray(F, macc, 48).mul(32f));
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_1));
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_2));
        r3 = r3.add(r3.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r3 = r3.add(r3.rearrange(LaneSum.FOLD_4));
        }
        y[yo] = r0.lane(0);
        y[yo + ys] = r1.lane(0);
        y[yo + 2 * ys] = r2.lane(0);
        y[yo + 3 * ys] = r3.lane(0);
    }

    // ---------------------------------------------------------------- 256-bit vectors (AVX2): two rows per pass

    /** Swaps the halves of [sLo, sHi, mLo, mHi]: the mins' bytes first. */
    private static final VectorShuffle<Integer> SWAP_HALVES = VectorShuffle.fromValues(I4, 2, 3, 0, 1);

    /**
     * {@link #q4kScales} for 256-bit vectors: {@code sc[at, at + 8)} = {@code d * sc_j} and {@code sc[at + 8, at + 16)}
     * = {@code dmin * m_j}.
     */
    static void q4kScales8(MemorySegment w, long o, float[] sc, int at) {
        IntVector v = IntVector.fromMemorySegment(I4, w, o, LE);
        IntVector six = v.rearrange(K_LOW).lanewise(VectorOperators.LSHR, K_SHIFT).and(K_MASK)
                .or(v.rearrange(K_HIGH).lanewise(VectorOperators.LSHR, 2).and(K_TOP));
        int halves = v.lane(0);
        float d = Float.float16ToFloat((short) halves);
        float dmin = Float.float16ToFloat((short) (halves >>> 16));
        ((FloatVector) six.reinterpretAsBytes().convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(sc, at);
        ((FloatVector) six.rearrange(SWAP_HALVES).reinterpretAsBytes().convertShape(VectorOperators.B2F, F, 0))
                .mul(dmin).intoArray(sc, at + 8);
    }

    /**
     * Two Q4_K rows with 256-bit vectors on the permuted activation ({@link #Q4K_ORDER} for 8 lanes): per superblock
     * and row four 32-byte loads, one group of 64 weights each (so one scale per vector of low or high nibbles). The
     * mins terms accumulate in registers, as in {@link #q4_Kx4p} (they went through an array per superblock: from
     * cache, one thread, 6144 x 256, 11.5 -> 12.2 GB/s forced to 8 lanes on an AVX-512 machine, 5.8 -> 7.1 with
     * {@code -XX:UseAVX=2}; the same bits).
     */
    static void q4_Kx2p(MemorySegment w, long off, long rb, float[] xp, float[] sums, int k, float[] y, int yo, int ys, float[] sc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        FloatVector m0 = a0, m1 = a0;
        for (int i = 0; i < k; i += 256) { // offsets affine in the superblock index (see q8_0x4)
            final long os = (long) (i >> 8) * 144;
            final long o0 = off + os, o1 = o0 + rb;
            q4kScales8(w, o0, sc, 0);
            q4kScales8(w, o1, sc, 16);
            FloatVector blockSums = FloatVector.fromArray(F, sums, i / 32);
            m0 = FloatVector.fromArray(F, sc, 8).fma(blockSums, m0);
            m1 = FloatVector.fromArray(F, sc, 24).fma(blockSums, m1);
            for (int g = 0; g < 4; g++) {
                IntVector v0 = IntVector.fromMemorySegment(I, w, o0 + 16 + 32L * g, LE);
                IntVector v1 = IntVector.fromMemorySegment(I, w, o1 + 16 + 32L * g, LE);
                IntVector s0 = v0.lanewise(VectorOperators.LSHR, 4), s1 = v1.lanewise(VectorOperators.LSHR, 4);
                FloatVector l0 = FloatVector.zero(F), l1 = l0, h0 = l0, h1 = l0;
                int xb = i + 64 * g;
                for (int b = 0; b < 4; b++) {
                    int nibble = 0xF << 8 * b;
                    FloatVector xl = FloatVector.fromArray(F, xp, xb + 16 * b);
                    FloatVector xh = FloatVector.fromArray(F, xp, xb + 16 * b + 8);
                    l0 = ((FloatVector) v0.and(nibble).convert(VectorOperators.I2F, 0)).fma(xl, l0);
                    l1 = ((FloatVector) v1.and(nibble).convert(VectorOperators.I2F, 0)).fma(xl, l1);
                    h0 = ((FloatVector) s0.and(nibble).convert(VectorOperators.I2F, 0)).fma(xh, h0);
                    h1 = ((FloatVector) s1.and(nibble).convert(VectorOperators.I2F, 0)).fma(xh, h1);
                }
                a0 = h0.fma(FloatVector.broadcast(F, sc[2 * g + 1]), l0.fma(FloatVector.broadcast(F, sc[2 * g]), a0));
                a1 = h1.fma(FloatVector.broadcast(F, sc[16 + 2 * g + 1]), l1.fma(FloatVector.broadcast(F, sc[16 + 2 * g]), a1));
            }
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector r0 = a0.sub(m0);
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_1));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_2));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r0 = r0.add(r0.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r1 = a1.sub(m1);
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_1));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_2));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r1 = r1.add(r1.rearrange(LaneSum.FOLD_4));
        }
        y[yo] = r0.lane(0);
        y[yo + ys] = r1.lane(0);
    }

    /** Lanes 0-3 take scale 0 of an 8-float window, lanes 4-7 scale 1 (two 16-weight sub-blocks per vector). */
    private static final VectorShuffle<Float> PAIR = VectorShuffle.fromOp(F, i -> i / 4);

    /**
     * The 16 scales of the Q6_K superblock at {@code o} times its {@code d} into {@code sc[at, at + 16)}, with
     * 256-bit vectors.
     */
    static void q6kScales8(MemorySegment w, long o, float[] sc, int at) {
        float d = Float.float16ToFloat(w.get(SHORT_LE, o + 208));
        IntVector v = IntVector.fromMemorySegment(I4, w, o + 192, LE);
        ((FloatVector) v.reinterpretAsBytes().convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(sc, at);
        ((FloatVector) v.rearrange(SWAP_HALVES).reinterpretAsBytes().convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(sc, at + 8);
    }

    /**
     * Two Q6_K rows with 256-bit vectors on the permuted activation ({@link #Q6K_ORDER} for 8 lanes): per half
     * superblock, the 32 bytes of {@code qh} once and {@code ql} in two 32-byte loads ({@code c = 0}: bytes
     * {@code l}, whose high bits are {@code qh} bits 0-1 and 4-5; {@code c = 1}: bytes {@code 32 + l}, bits 2-3 and
     * 6-7, the same after a shift by 2). ql and qh merge in one bitwise blend per vector of nibbles, and the offset
     * terms accumulate in registers (they went through an array per superblock): from cache, one thread, 6144 x 256,
     * 11 -> 12.9 GB/s forced to 8 lanes on an AVX-512 machine, 5.3 -> 8.5 with {@code -XX:UseAVX=2}; the same bits.
     */
    static void q6_Kx2p(MemorySegment w, long off, long rb, float[] xp, float[] sums, int k, float[] y, int yo, int ys, float[] sc) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        FloatVector m0 = a0, m1 = a0, n0 = a0, n1 = a0; // offset terms of the low and high 8 sub-blocks
        for (int i = 0; i < k; i += 256) { // offsets affine in the superblock index (see q8_0x4)
            final long os = (long) (i >> 8) * 210;
            final long o0 = off + os, o1 = o0 + rb;
            q6kScales8(w, o0, sc, 0);
            q6kScales8(w, o1, sc, 16);
            FloatVector lowSums = FloatVector.fromArray(F, sums, i / 16), highSums = FloatVector.fromArray(F, sums, i / 16 + 8);
            m0 = FloatVector.fromArray(F, sc, 0).fma(lowSums, m0);
            n0 = FloatVector.fromArray(F, sc, 8).fma(highSums, n0);
            m1 = FloatVector.fromArray(F, sc, 16).fma(lowSums, m1);
            n1 = FloatVector.fromArray(F, sc, 24).fma(highSums, n1);
            for (int n = 0; n < 2; n++) {
                for (int c = 0; c < 2; c++) {
                    IntVector q0 = IntVector.fromMemorySegment(I, w, o0 + 64L * n + 32 * c, LE);
                    IntVector q1 = IntVector.fromMemorySegment(I, w, o1 + 64L * n + 32 * c, LE);
                    IntVector h0 = IntVector.fromMemorySegment(I, w, o0 + 128 + 32L * n, LE).lanewise(VectorOperators.LSHR, 2 * c);
                    IntVector h1 = IntVector.fromMemorySegment(I, w, o1 + 128 + 32L * n, LE).lanewise(VectorOperators.LSHR, 2 * c);
                    // low nibbles with qh bits 0-1 (moved to 4-5), high nibbles with bits 4-5: one blend each (QH_BITS)
                    IntVector u0 = q0.bitwiseBlend(h0.lanewise(VectorOperators.LSHL, 4), QH_BITS);
                    IntVector u1 = q1.bitwiseBlend(h1.lanewise(VectorOperators.LSHL, 4), QH_BITS);
                    IntVector s0 = q0.lanewise(VectorOperators.LSHR, 4).bitwiseBlend(h0, QH_BITS);
                    IntVector s1 = q1.lanewise(VectorOperators.LSHR, 4).bitwiseBlend(h1, QH_BITS);
                    FloatVector l0 = FloatVector.zero(F), l1 = l0, e0 = l0, e1 = l0;
                    int xb = i + 128 * n + 64 * c;
                    for (int b = 0; b < 4; b++) {
                        int six = 0x3F << 8 * b;
                        FloatVector xl = FloatVector.fromArray(F, xp, xb + 16 * b);
                        FloatVector xh = FloatVector.fromArray(F, xp, xb + 16 * b + 8);
                        l0 = ((FloatVector) u0.and(six).convert(VectorOperators.I2F, 0)).fma(xl, l0);
                        l1 = ((FloatVector) u1.and(six).convert(VectorOperators.I2F, 0)).fma(xl, l1);
                        e0 = ((FloatVector) s0.and(six).convert(VectorOperators.I2F, 0)).fma(xh, e0);
                        e1 = ((FloatVector) s1.and(six).convert(VectorOperators.I2F, 0)).fma(xh, e1);
                    }
                    int sl = 8 * n + 2 * c, sh = sl + 4; // first sub-block of the low and of the high nibbles
                    a0 = e0.fma(FloatVector.fromArray(F, sc, sh).rearrange(PAIR), l0.fma(FloatVector.fromArray(F, sc, sl).rearrange(PAIR), a0));
                    a1 = e1.fma(FloatVector.fromArray(F, sc, 16 + sh).rearrange(PAIR), l1.fma(FloatVector.fromArray(F, sc, 16 + sl).rearrange(PAIR), a1));
                }
            }
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector r0 = a0.sub(m0.add(n0).mul(32f));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_1));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_2));
        r0 = r0.add(r0.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r0 = r0.add(r0.rearrange(LaneSum.FOLD_4));
        }
        FloatVector r1 = a1.sub(m1.add(n1).mul(32f));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_1));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_2));
        r1 = r1.add(r1.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            r1 = r1.add(r1.rearrange(LaneSum.FOLD_4));
        }
        y[yo] = r0.lane(0);
        y[yo + ys] = r1.lane(0);
    }

    /**
     * The activation for the F16/BF16 kernels: each chunk of {@code 2L} elements stored as its {@code L} even elements
     * then its {@code L} odd elements, so that one {@code L}-int load of weights (two 16-bit values per int lane) meets
     * one vector of even and one of odd activations, each times {@code scale} (a power of two, or 1). Elements past the
     * last whole chunk are not copied (the kernels read them from {@code x}).
     */
    static float[] pairs(Scratch s, float[] x, int k, float scale) {
        int n = k - k % (2 * L);
        if (s.pairs.length < n) {
            s.pairs = new float[Math.max(n, 2 * s.pairs.length)];
        }
        float[] p = s.pairs;
        for (int c = 0; c < n; c += 2 * L) {
            for (int j = 0; j < L; j++) {
                p[c + j] = x[c + 2 * j] * scale;
                p[c + L + j] = x[c + 2 * j + 1] * scale;
            }
        }
        return p;
    }

    /**
     * {@link #pairs} times 2^112, the factor the F16 kernels' bit trick leaves out of the weights (below): each
     * product {@code (w * 2^-112) * (x * 2^112)} is then {@code w * x} exactly, as both scalings are exact, and the
     * FMAs round the same sums, so the kernels save two multiplies per {@code 2L} weights. Null if some activation is
     * 2^15 or more in magnitude (or NaN), where the scaled value could overflow.
     */
    static float[] scaledPairs(Scratch s, float[] x, int k) {
        for (int i = 0; i < k; i++) {
            if (!(Math.abs(x[i]) < 0x1p15f)) {
                return null;
            }
        }
        return pairs(s, x, k, TWO_POW_112);
    }

    /*
     * F16 pairs to floats. One int lane v holds an even half (bits 0-15) and an odd one (16-31). Shifted
     * arithmetically right by 3, a half's sign stays at bit 31 (and is copied into bits 28-30, which the mask 0x8FFFE000
     * clears), its exponent lands on bits 23-27 and its mantissa on bits 13-22: the float 2^-112 times the half's value
     * for normals, and a float subnormal that is the same for subnormals (exact either way), which meets the activation
     * times 2^112 ({@link #scaledPairs}); the even half is first shifted up by 16. Infinities and NaNs (exponent 31)
     * would come out finite: instead of patching every lane, (v & 0x7C007C00) + 0x04000400 sets bit 15 or 31 exactly when a half's exponent is 31;
     * those bits are OR-ed over the row, and a row that has one is computed again by the exact one-row kernel
     * (GgmlKernels.dotF16). Per 2L weights: 1 load, 5 integer ops, 2 FMAs and 3 ops for the flag,
     * against 2 x 11 for the lane-by-lane widening of dotF16.
     */

    /**
     * Four F16 rows at byte {@code off}, {@code rb} apart (outputs {@code y[yo + r * ys]}), against the even/odd
     * activation {@code xp} times 2^112 ({@link #scaledPairs}); {@code x} for the elements past the last chunk. Same sums as {@link #f16x1}.
     */
    static void f16x4(MemorySegment w, long off, long rb, float[] x, float[] xp, int k, float[] y, int yo, int ys, float[] lanes) {
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
                    .reinterpretAsFloats().fma(xe, a0);
            a0 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().fma(xo, a0);
            v = IntVector.fromMemorySegment(I, w, o1 + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a1 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().fma(xe, a1);
            a1 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().fma(xo, a1);
            v = IntVector.fromMemorySegment(I, w, o2 + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a2 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().fma(xe, a2);
            a2 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().fma(xo, a2);
            v = IntVector.fromMemorySegment(I, w, o3 + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a3 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().fma(xe, a3);
            a3 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().fma(xo, a3);
        }
        if (flag.and(0x80008000).compare(VectorOperators.NE, 0).anyTrue()) {
            for (int r = 0; r < ROWS; r++) {
                y[yo + r * ys] = GgmlKernels.dotF16(w, off + r * rb, x, 0, k);
            }
            return;
        }
        // lane sums through an array: vectors passed to a call C2 did not inline are boxed (LaneSum.sum(float[], ..))
        a0.intoArray(lanes, 0);
        a1.intoArray(lanes, L);
        a2.intoArray(lanes, 2 * L);
        a3.intoArray(lanes, 3 * L);
        float t0 = LaneSum.sum(lanes, 0, L), t1 = LaneSum.sum(lanes, L, L);
        float t2 = LaneSum.sum(lanes, 2 * L, L), t3 = LaneSum.sum(lanes, 3 * L, L);
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
    static float f16x1(MemorySegment w, long off, float[] x, float[] xp, int k, float[] lanes) {
        FloatVector a0 = FloatVector.zero(F);
        IntVector flag = IntVector.zero(I);
        int n = k - k % (2 * L);
        for (int i = 0; i < n; i += 2 * L) {
            IntVector v = IntVector.fromMemorySegment(I, w, off + 2L * i, LE);
            flag = flag.or(v.and(0x7C007C00).add(0x04000400));
            a0 = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000)
                    .reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, i), a0);
            a0 = v.lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats()
                    .fma(FloatVector.fromArray(F, xp, i + L), a0);
        }
        if (flag.and(0x80008000).compare(VectorOperators.NE, 0).anyTrue()) {
            return GgmlKernels.dotF16(w, off, x, 0, k);
        }
        a0.intoArray(lanes, 0);
        float t0 = LaneSum.sum(lanes, 0, L);
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
    static void bf16x4(MemorySegment w, long off, long rb, float[] x, float[] xp, int k, float[] y, int yo, int ys, float[] lanes) {
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
        e0.add(d0).intoArray(lanes, 0);
        e1.add(d1).intoArray(lanes, L);
        e2.add(d2).intoArray(lanes, 2 * L);
        e3.add(d3).intoArray(lanes, 3 * L);
        float t0 = LaneSum.sum(lanes, 0, L), t1 = LaneSum.sum(lanes, L, L);
        float t2 = LaneSum.sum(lanes, 2 * L, L), t3 = LaneSum.sum(lanes, 3 * L, L);
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
    static float bf16x1(MemorySegment w, long off, float[] x, float[] xp, int k, float[] lanes) {
        FloatVector e0 = FloatVector.zero(F), d0 = e0;
        int n = k - k % (2 * L);
        for (int i = 0; i < n; i += 2 * L) {
            IntVector v = IntVector.fromMemorySegment(I, w, off + 2L * i, LE);
            e0 = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, i), e0);
            d0 = v.and(0xFFFF0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, i + L), d0);
        }
        e0.add(d0).intoArray(lanes, 0);
        float t0 = LaneSum.sum(lanes, 0, L);
        for (int i = n; i < k; i++) {
            t0 += BFloat16.toFloat(w.get(SHORT_LE, off + 2L * i)) * x[i];
        }
        return t0;
    }
}
