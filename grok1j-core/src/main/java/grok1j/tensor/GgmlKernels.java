package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Dot products of one stored GGUF row (blocks along the input dimension) with a float32 activation row, one flat
 * method per type (spec kernels.md §4.3: static final species, vectors only in locals, no vector-typed helpers, or
 * C2 boxes them and loses 5-7x). Activations stay float32, so the only rounding is the float32 accumulation.
 *
 * <p>Each quantized block is widened {@code L} (16 or 8) elements at a time: an {@code L}-byte load converted to
 * an {@code L}-lane float vector. Nibbles are split with a 16-bit-lane shift and a byte mask, since x86 has no byte-lane shift (§4.2).
 * Q4_K's six-bit scales are unpacked with the word-mask trick of §3 (c); the {@code -dmin * m} terms are folded
 * into a running sum of the activations per sub-block.
 *
 * <p>All methods take a byte offset {@code off} of the row in {@code w} and read {@code k} elements; {@code k} is a
 * multiple of the type's block size (GGUF requires it), except for the float types, which handle any length.
 */
public final class GgmlKernels {
    private GgmlKernels() {}

    /**
     * Float lanes per vector: 16 with AVX-512, else 8. The preferred shape is used because a shape the CPU lacks is
     * emulated in Java, 30x slower (measured: 512-bit species on an AVX2-only host). Capped at 16 so a chunk never
     * spans more than one Q4_0 block half; at least 8 so the byte species below exists (64-bit minimum).
     * {@code -Dgrok1j.kernel.lanes=8|16} overrides the choice (tests run both paths on any CPU).
     */
    static final int L = Integer.getInteger("grok1j.kernel.lanes",
            FloatVector.SPECIES_PREFERRED.length() >= 16 ? 16 : 8) >= 16 ? 16 : 8;
    private static final VectorSpecies<Float> F = L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    /** L bytes, widened to L floats by one conversion. */
    private static final VectorSpecies<Byte> B = L == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final VectorSpecies<Short> S = L == 16 ? ShortVector.SPECIES_256 : ShortVector.SPECIES_128;
    private static final VectorSpecies<Integer> I = L == 16 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float TWO_POW_112 = 0x1p112f;

    /** F32 row. */
    public static float dotF32(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += L) {
            acc = FloatVector.fromMemorySegment(F, w, off + 4L * i, LE).fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        float sum = LaneSum.sum(lanes, 0, L);
        for (; i < k; i++) {
            sum += w.get(GgmlDequant.FLOAT_LE, off + 4L * i) * x[xo + i];
        }
        return sum;
    }

    /**
     * F16 row. The Vector API has no half-to-float conversion, so the bits are widened by hand: exponent and
     * mantissa shifted into float position and scaled by 2^112 (exact for normals and subnormals alike), infinities
     * and NaNs patched by a blend, the sign OR-ed back.
     */
    public static float dotF16(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector em = h.and(0x7FFF);
            IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
            IntVector bits = shifted.reinterpretAsFloats().mul(TWO_POW_112).reinterpretAsInts();
            VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7C00);
            bits = bits.blend(shifted.or(0x7F80_0000), special)
                    .or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16));
            acc = bits.reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        float sum = LaneSum.sum(lanes, 0, L);
        for (; i < k; i++) {
            sum += Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2L * i)) * x[xo + i];
        }
        return sum;
    }

    /** BF16 row: the bits shifted into the upper half of a float. */
    public static float dotBF16(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            acc = h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats()
                    .fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        float sum = LaneSum.sum(lanes, 0, L);
        for (; i < k; i++) {
            sum += BFloat16.toFloat(w.get(GgmlDequant.SHORT_LE, off + 2L * i)) * x[xo + i];
        }
        return sum;
    }

    /** Q8_0 row: per 34-byte block, {@code 32 / L} loads of {@code L} bytes widened to floats, one scale. */
    public static float dotQ8_0(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < k; i += 32, off += 34) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                FloatVector wv = (FloatVector) ByteVector.fromMemorySegment(B, w, off + 2 + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0);
                s = wv.fma(FloatVector.fromArray(F, x, xo + i + j), s);
            }
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        return LaneSum.sum(lanes, 0, L);
    }

    /** Q4_0 row: low nibbles are elements 0..15, high nibbles 16..31, both minus 8. */
    public static float dotQ4_0(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < k; i += 32, off += 18) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                ByteVector q = ByteVector.fromMemorySegment(B, w, off + 2 + j, LE);
                ByteVector lo = q.and((byte) 0x0F).sub((byte) 8);
                ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                        .and((byte) 0x0F).sub((byte) 8);
                FloatVector wl = (FloatVector) lo.convertShape(VectorOperators.B2F, F, 0);
                FloatVector wh = (FloatVector) hi.convertShape(VectorOperators.B2F, F, 0);
                s = wl.fma(FloatVector.fromArray(F, x, xo + i + j), wh.fma(FloatVector.fromArray(F, x, xo + i + 16 + j), s));
            }
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        return LaneSum.sum(lanes, 0, L);
    }

    /**
     * Q4_K row: per 144-byte superblock, 4 groups of 64 elements; group g's 32 bytes give sub-block 2g (low
     * nibbles) and 2g+1 (high nibbles). Per sub-block: {@code d*sc * sum(q*x) - dmin*m * sum(x)}.
     */
    public static float dotQ4_K(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < k; i += 256, off += 144) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            float dmin = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2));
            int u0 = w.get(GgmlDequant.INT_LE, off + 4);
            int u1 = w.get(GgmlDequant.INT_LE, off + 8);
            int u2 = w.get(GgmlDequant.INT_LE, off + 12);
            int sc03 = u0 & 0x3F3F3F3F;
            int mn03 = u1 & 0x3F3F3F3F;
            int sc47 = (u2 & 0x0F0F0F0F) | (((u0 >>> 6) & 0x03030303) << 4);
            int mn47 = ((u2 >>> 4) & 0x0F0F0F0F) | (((u1 >>> 6) & 0x03030303) << 4);
            for (int g = 0; g < 4; g++) {
                int scw = g < 2 ? sc03 : sc47;
                int mnw = g < 2 ? mn03 : mn47;
                int sh = 16 * (g & 1);
                float dLo = d * ((scw >>> sh) & 0xFF);
                float dHi = d * ((scw >>> (sh + 8)) & 0xFF);
                float mLo = -dmin * ((mnw >>> sh) & 0xFF);
                float mHi = -dmin * ((mnw >>> (sh + 8)) & 0xFF);
                long qo = off + 16 + 32L * g;
                int xb = xo + i + 64 * g;
                FloatVector dotLo = FloatVector.zero(F), dotHi = FloatVector.zero(F);
                FloatVector sumLo = FloatVector.zero(F), sumHi = FloatVector.zero(F);
                for (int j = 0; j < 32; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, w, qo + j, LE);
                    FloatVector lo = (FloatVector) q.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
                    FloatVector hi = (FloatVector) q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4)
                            .reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
                    FloatVector xl = FloatVector.fromArray(F, x, xb + j);
                    FloatVector xh = FloatVector.fromArray(F, x, xb + 32 + j);
                    dotLo = lo.fma(xl, dotLo);
                    dotHi = hi.fma(xh, dotHi);
                    sumLo = sumLo.add(xl);
                    sumHi = sumHi.add(xh);
                }
                acc = dotLo.fma(FloatVector.broadcast(F, dLo), acc);
                acc = dotHi.fma(FloatVector.broadcast(F, dHi), acc);
                acc = sumLo.fma(FloatVector.broadcast(F, mLo), acc);
                acc = sumHi.fma(FloatVector.broadcast(F, mHi), acc);
            }
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        return LaneSum.sum(lanes, 0, L);
    }

    /**
     * Q6_K row: per 210-byte superblock, two halves of 128; per half and per chunk of {@code L} elements, the four
     * quarter-rows combine nibbles of {@code ql} with 2-bit fields of {@code qh}. The 2-bit fields are moved to
     * bits 4-5 with 16-bit-lane shifts and a {@code 0x30} mask (a field never crosses a byte, and whatever a shift
     * carries into the neighbouring byte lands outside the mask).
     */
    public static float dotQ6_K(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < k; i += 256, off += 210) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 208));
            for (int n = 0; n < 2; n++) {
                long ql = off + 64L * n;
                long qh = off + 128 + 32L * n;
                long sc = off + 192 + 8L * n;
                for (int l = 0; l < 32; l += L) {
                    int c = l / 16; // scale index within the quarter: elements 0-15 and 16-31 have their own
                    ByteVector a = ByteVector.fromMemorySegment(B, w, ql + l, LE);
                    ByteVector b = ByteVector.fromMemorySegment(B, w, ql + 32 + l, LE);
                    ByteVector h = ByteVector.fromMemorySegment(B, w, qh + l, LE);
                    ShortVector hs = h.reinterpretAsShorts();
                    ByteVector h1 = hs.lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30);
                    ByteVector h2 = hs.lanewise(VectorOperators.LSHL, 2).reinterpretAsBytes().and((byte) 0x30);
                    ByteVector h3 = h.and((byte) 0x30);
                    ByteVector h4 = hs.lanewise(VectorOperators.LSHR, 2).reinterpretAsBytes().and((byte) 0x30);
                    ByteVector ahi = a.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
                    ByteVector bhi = b.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
                    FloatVector q1 = (FloatVector) a.and((byte) 0x0F).or(h1).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0);
                    FloatVector q2 = (FloatVector) b.and((byte) 0x0F).or(h2).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0);
                    FloatVector q3 = (FloatVector) ahi.or(h3).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0);
                    FloatVector q4 = (FloatVector) bhi.or(h4).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0);
                    int xb = xo + i + 128 * n + l;
                    float s1 = d * w.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + c);
                    float s2 = d * w.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + c + 2);
                    float s3 = d * w.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + c + 4);
                    float s4 = d * w.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + c + 6);
                    acc = q1.mul(FloatVector.fromArray(F, x, xb)).fma(FloatVector.broadcast(F, s1), acc);
                    acc = q2.mul(FloatVector.fromArray(F, x, xb + 32)).fma(FloatVector.broadcast(F, s2), acc);
                    acc = q3.mul(FloatVector.fromArray(F, x, xb + 64)).fma(FloatVector.broadcast(F, s3), acc);
                    acc = q4.mul(FloatVector.fromArray(F, x, xb + 96)).fma(FloatVector.broadcast(F, s4), acc);
                }
            }
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        return LaneSum.sum(lanes, 0, L);
    }

    /** Lane numbers 0..L-1 (per-lane shift counts for the Q5 high bits). */
    private static final int[] IOTA = java.util.stream.IntStream.range(0, 16).toArray();

    /**
     * Q4_1 row: {@code d * q + m} per element, so per block {@code d * sum(q * x) + m * sum(x)}; {@code sums[b]} is
     * the float32 sum of the activations of block {@code b}.
     */
    public static float dotQ4_1(MemorySegment w, long off, float[] x, float[] sums, int k) {
        FloatVector acc = FloatVector.zero(F);
        float mins = 0;
        for (int i = 0; i < k; i += 32, off += 20) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            mins += Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2)) * sums[i / 32];
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, w, off + 4 + j, LE).convertShape(VectorOperators.B2I, I, 0);
                s = ((FloatVector) q.and(0xF).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, i + j), s);
                s = ((FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(0xF).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.fromArray(F, x, i + 16 + j), s);
            }
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector t = acc;
        t = t.add(t.rearrange(LaneSum.FOLD_1));
        t = t.add(t.rearrange(LaneSum.FOLD_2));
        t = t.add(t.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            t = t.add(t.rearrange(LaneSum.FOLD_4));
        }
        return t.lane(0) + mins;
    }

    /**
     * Q5_0 row: nibble plus bit {@code i} of the block's 32-bit {@code qh} as the fifth bit, minus 16 (in int lanes,
     * with a per-lane shift of {@code qh} for the fifth bits).
     */
    public static float dotQ5_0(MemorySegment w, long off, float[] x, int k) {
        FloatVector acc = FloatVector.zero(F);
        IntVector iota = IntVector.fromArray(I, IOTA, 0);
        for (int i = 0; i < k; i += 32, off += 22) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            IntVector qh = IntVector.broadcast(I, w.get(GgmlDequant.INT_LE, off + 2));
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, w, off + 6 + j, LE).convertShape(VectorOperators.B2I, I, 0);
                IntVector lo = q.and(0xF).or(qh.lanewise(VectorOperators.LSHR, iota.add(j)).and(1).lanewise(VectorOperators.LSHL, 4)).sub(16);
                IntVector hi = q.lanewise(VectorOperators.ASHR, 4).and(0xF)
                        .or(qh.lanewise(VectorOperators.LSHR, iota.add(j + 16)).and(1).lanewise(VectorOperators.LSHL, 4)).sub(16);
                s = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, i + j), s);
                s = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, i + 16 + j), s);
            }
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector t = acc;
        t = t.add(t.rearrange(LaneSum.FOLD_1));
        t = t.add(t.rearrange(LaneSum.FOLD_2));
        t = t.add(t.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            t = t.add(t.rearrange(LaneSum.FOLD_4));
        }
        return t.lane(0);
    }

    /** Q5_1 row: the Q5_0 bits without the -16, value {@code d * q + m} (mins as in {@link #dotQ4_1}). */
    public static float dotQ5_1(MemorySegment w, long off, float[] x, float[] sums, int k) {
        FloatVector acc = FloatVector.zero(F);
        IntVector iota = IntVector.fromArray(I, IOTA, 0);
        float mins = 0;
        for (int i = 0; i < k; i += 32, off += 24) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            mins += Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2)) * sums[i / 32];
            IntVector qh = IntVector.broadcast(I, w.get(GgmlDequant.INT_LE, off + 4));
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, w, off + 8 + j, LE).convertShape(VectorOperators.B2I, I, 0);
                IntVector lo = q.and(0xF).or(qh.lanewise(VectorOperators.LSHR, iota.add(j)).and(1).lanewise(VectorOperators.LSHL, 4));
                IntVector hi = q.lanewise(VectorOperators.ASHR, 4).and(0xF)
                        .or(qh.lanewise(VectorOperators.LSHR, iota.add(j + 16)).and(1).lanewise(VectorOperators.LSHL, 4));
                s = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, i + j), s);
                s = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, i + 16 + j), s);
            }
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector t = acc;
        t = t.add(t.rearrange(LaneSum.FOLD_1));
        t = t.add(t.rearrange(LaneSum.FOLD_2));
        t = t.add(t.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            t = t.add(t.rearrange(LaneSum.FOLD_4));
        }
        return t.lane(0) + mins;
    }

    /**
     * Q2_K row: per 128-half and 16-byte run of {@code qs}, the bytes are widened once and the four 2-bit planes
     * shifted out of them; each plane of a run is one 16-element sub-block with scale {@code d * (sc & 15)} and min
     * {@code dmin * (sc >> 4)} (times {@code sums}, the activation sums per 16).
     */
    public static float dotQ2_K(MemorySegment w, long off, float[] x, float[] sums, int k) {
        FloatVector acc = FloatVector.zero(F);
        float mins = 0;
        for (int i = 0; i < k; i += 256, off += 84) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 80));
            float dmin = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 82));
            float m = 0;
            for (int n = 0; n < 2; n++) {
                for (int half = 0; half < 2; half++) {
                    for (int j = 0; j < 4; j++) {
                        int is = 8 * n + 2 * j + half;
                        int sc = w.get(java.lang.foreign.ValueLayout.JAVA_BYTE, off + is) & 0xFF;
                        m += (sc >> 4) * sums[i / 16 + is];
                        FloatVector s = FloatVector.zero(F);
                        for (int l = 0; l < 16; l += L) {
                            IntVector q = (IntVector) ByteVector.fromMemorySegment(B, w, off + 16 + 32L * n + 16 * half + l, LE)
                                    .convertShape(VectorOperators.B2I, I, 0);
                            s = ((FloatVector) q.lanewise(VectorOperators.ASHR, 2 * j).and(3).convert(VectorOperators.I2F, 0))
                                    .fma(FloatVector.fromArray(F, x, i + 128 * n + 32 * j + 16 * half + l), s);
                        }
                        acc = s.fma(FloatVector.broadcast(F, d * (sc & 0xF)), acc);
                    }
                }
            }
            mins += dmin * m;
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector t = acc;
        t = t.add(t.rearrange(LaneSum.FOLD_1));
        t = t.add(t.rearrange(LaneSum.FOLD_2));
        t = t.add(t.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            t = t.add(t.rearrange(LaneSum.FOLD_4));
        }
        return t.lane(0) - mins;
    }

    /**
     * Q3_K row: the 2-bit planes as Q2_K, minus 4 where the plane's bit of {@code hmask} is clear; signed six-bit
     * scales (unpacked per superblock into {@code sc}, at least 16 floats), no mins.
     */
    public static float dotQ3_K(MemorySegment w, long off, float[] x, int k, float[] sc) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < k; i += 256, off += 110) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 108));
            int a0 = w.get(GgmlDequant.INT_LE, off + 96);
            int a1 = w.get(GgmlDequant.INT_LE, off + 100);
            int a2 = w.get(GgmlDequant.INT_LE, off + 104);
            for (int s = 0; s < 16; s++) {
                int low = s < 8 ? (s < 4 ? a0 : a1) >>> (8 * (s % 4)) & 0xF : (s < 12 ? a0 : a1) >>> (8 * (s % 4) + 4) & 0xF;
                int high = (a2 >>> (8 * (s % 4) + 2 * (s / 4))) & 3;
                sc[s] = d * ((low | (high << 4)) - 32);
            }
            for (int n = 0; n < 2; n++) {
                for (int half = 0; half < 2; half++) {
                    for (int j = 0; j < 4; j++) {
                        int is = 8 * n + 2 * j + half;
                        FloatVector s = FloatVector.zero(F);
                        for (int l = 0; l < 16; l += L) {
                            IntVector q = (IntVector) ByteVector.fromMemorySegment(B, w, off + 32 + 32L * n + 16 * half + l, LE)
                                    .convertShape(VectorOperators.B2I, I, 0);
                            IntVector hm = (IntVector) ByteVector.fromMemorySegment(B, w, off + 16 * half + l, LE)
                                    .convertShape(VectorOperators.B2I, I, 0);
                            IntVector v = q.lanewise(VectorOperators.ASHR, 2 * j).and(3)
                                    .add(hm.lanewise(VectorOperators.ASHR, 4 * n + j).and(1).lanewise(VectorOperators.LSHL, 2)).sub(4);
                            s = ((FloatVector) v.convert(VectorOperators.I2F, 0))
                                    .fma(FloatVector.fromArray(F, x, i + 128 * n + 32 * j + 16 * half + l), s);
                        }
                        acc = s.fma(FloatVector.broadcast(F, sc[is]), acc);
                    }
                }
            }
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector t = acc;
        t = t.add(t.rearrange(LaneSum.FOLD_1));
        t = t.add(t.rearrange(LaneSum.FOLD_2));
        t = t.add(t.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            t = t.add(t.rearrange(LaneSum.FOLD_4));
        }
        return t.lane(0);
    }

    /** Q5_K row: Q4_K's scales and nibbles, plus bit 2g (low nibbles) or 2g+1 (high) of {@code qh[l]} as 16. */
    public static float dotQ5_K(MemorySegment w, long off, float[] x, float[] sums, int k) {
        FloatVector acc = FloatVector.zero(F);
        float mins = 0;
        for (int i = 0; i < k; i += 256, off += 176) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            float dmin = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2));
            int u0 = w.get(GgmlDequant.INT_LE, off + 4);
            int u1 = w.get(GgmlDequant.INT_LE, off + 8);
            int u2 = w.get(GgmlDequant.INT_LE, off + 12);
            int sc03 = u0 & 0x3F3F3F3F;
            int mn03 = u1 & 0x3F3F3F3F;
            int sc47 = (u2 & 0x0F0F0F0F) | (((u0 >>> 6) & 0x03030303) << 4);
            int mn47 = ((u2 >>> 4) & 0x0F0F0F0F) | (((u1 >>> 6) & 0x03030303) << 4);
            float m = 0;
            for (int g = 0; g < 4; g++) {
                int scw = g < 2 ? sc03 : sc47;
                int mnw = g < 2 ? mn03 : mn47;
                int sh = 16 * (g & 1);
                m += ((mnw >>> sh) & 0xFF) * sums[i / 32 + 2 * g] + ((mnw >>> (sh + 8)) & 0xFF) * sums[i / 32 + 2 * g + 1];
                FloatVector lo = FloatVector.zero(F), hi = FloatVector.zero(F);
                for (int j = 0; j < 32; j += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, w, off + 48 + 32L * g + j, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    IntVector h = (IntVector) ByteVector.fromMemorySegment(B, w, off + 16 + j, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    IntVector ql = q.and(0xF).add(h.lanewise(VectorOperators.ASHR, 2 * g).and(1).lanewise(VectorOperators.LSHL, 4));
                    IntVector qhi = q.lanewise(VectorOperators.ASHR, 4).and(0xF)
                            .add(h.lanewise(VectorOperators.ASHR, 2 * g + 1).and(1).lanewise(VectorOperators.LSHL, 4));
                    lo = ((FloatVector) ql.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, i + 64 * g + j), lo);
                    hi = ((FloatVector) qhi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, i + 64 * g + 32 + j), hi);
                }
                acc = lo.fma(FloatVector.broadcast(F, d * ((scw >>> sh) & 0xFF)), acc);
                acc = hi.fma(FloatVector.broadcast(F, d * ((scw >>> (sh + 8)) & 0xFF)), acc);
            }
            mins += dmin * m;
        }
        // lane sums in a fixed order, the same in every JIT tier (LaneSum.FOLD_1)
        FloatVector t = acc;
        t = t.add(t.rearrange(LaneSum.FOLD_1));
        t = t.add(t.rearrange(LaneSum.FOLD_2));
        t = t.add(t.rearrange(LaneSum.FOLD_3));
        if (L == 16) {
            t = t.add(t.rearrange(LaneSum.FOLD_4));
        }
        return t.lane(0) - mins;
    }

    /** {@code sum a[i] * x[xo + i]} for {@code i < k}: the dot used after dequantizing a row into {@code a}. */
    public static float dotArrays(float[] a, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += L) {
            acc = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float[] lanes = LaneSum.scratch(); // through an array: see LaneSum.sum(float[], ..)
        acc.intoArray(lanes, 0);
        float sum = LaneSum.sum(lanes, 0, L);
        for (; i < k; i++) {
            sum += a[i] * x[xo + i];
        }
        return sum;
    }
}
