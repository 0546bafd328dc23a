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
    /** Fixed-order lane sums ({@link LaneSum}): results must not depend on the JIT. */
    private static final jdk.incubator.vector.VectorShuffle<Float>[] FOLDS = LaneSum.folds(F);
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
        float sum = LaneSum.sum(acc, FOLDS);
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
        float sum = LaneSum.sum(acc, FOLDS);
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
        float sum = LaneSum.sum(acc, FOLDS);
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
        return LaneSum.sum(acc, FOLDS);
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
        return LaneSum.sum(acc, FOLDS);
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
        return LaneSum.sum(acc, FOLDS);
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
        return LaneSum.sum(acc, FOLDS);
    }

    /** {@code sum a[i] * x[xo + i]} for {@code i < k}: the dot used after dequantizing a row into {@code a}. */
    public static float dotArrays(float[] a, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += L) {
            acc = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float sum = LaneSum.sum(acc, FOLDS);
        for (; i < k; i++) {
            sum += a[i] * x[xo + i];
        }
        return sum;
    }
}
