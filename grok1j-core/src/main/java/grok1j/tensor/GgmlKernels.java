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
 * <p>Each quantized block is widened 16 elements at a time: a 128-bit byte load converted to a 512-bit float
 * vector. Nibbles are split with a 16-bit-lane shift and a byte mask, since x86 has no byte-lane shift (§4.2).
 * Q4_K's six-bit scales are unpacked with the word-mask trick of §3 (c); the {@code -dmin * m} terms are folded
 * into a running sum of the activations per sub-block.
 *
 * <p>All methods take a byte offset {@code off} of the row in {@code w} and read {@code k} elements; {@code k} is a
 * multiple of the type's block size (GGUF requires it), except for the float types, which handle any length.
 */
public final class GgmlKernels {
    private GgmlKernels() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float TWO_POW_112 = 0x1p112f;

    /** F32 row. */
    public static float dotF32(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += 16) {
            acc = FloatVector.fromMemorySegment(F, w, off + 4L * i, LE).fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
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
        for (int bound = F.loopBound(k); i < bound; i += 16) {
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
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            sum += Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2L * i)) * x[xo + i];
        }
        return sum;
    }

    /** BF16 row: the bits shifted into the upper half of a float. */
    public static float dotBF16(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += 16) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            acc = h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats()
                    .fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            sum += BFloat16.toFloat(w.get(GgmlDequant.SHORT_LE, off + 2L * i)) * x[xo + i];
        }
        return sum;
    }

    /** Q8_0 row: per 34-byte block, two 16-byte loads widened to floats, one scale. */
    public static float dotQ8_0(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < k; i += 32, off += 34) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            FloatVector w0 = (FloatVector) ByteVector.fromMemorySegment(B, w, off + 2, LE)
                    .convertShape(VectorOperators.B2F, F, 0);
            FloatVector w1 = (FloatVector) ByteVector.fromMemorySegment(B, w, off + 18, LE)
                    .convertShape(VectorOperators.B2F, F, 0);
            FloatVector s = w0.fma(FloatVector.fromArray(F, x, xo + i), w1.mul(FloatVector.fromArray(F, x, xo + i + 16)));
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** Q4_0 row: low nibbles are elements 0..15, high nibbles 16..31, both minus 8. */
    public static float dotQ4_0(MemorySegment w, long off, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < k; i += 32, off += 18) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            ByteVector q = ByteVector.fromMemorySegment(B, w, off + 2, LE);
            ByteVector lo = q.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            FloatVector wl = (FloatVector) lo.convertShape(VectorOperators.B2F, F, 0);
            FloatVector wh = (FloatVector) hi.convertShape(VectorOperators.B2F, F, 0);
            FloatVector s = wl.fma(FloatVector.fromArray(F, x, xo + i), wh.mul(FloatVector.fromArray(F, x, xo + i + 16)));
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
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
                ByteVector q0 = ByteVector.fromMemorySegment(B, w, qo, LE);
                ByteVector q1 = ByteVector.fromMemorySegment(B, w, qo + 16, LE);
                FloatVector l0 = (FloatVector) q0.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
                FloatVector l1 = (FloatVector) q1.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
                FloatVector h0 = (FloatVector) q0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4)
                        .reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
                FloatVector h1 = (FloatVector) q1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4)
                        .reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
                FloatVector x0 = FloatVector.fromArray(F, x, xb);
                FloatVector x1 = FloatVector.fromArray(F, x, xb + 16);
                FloatVector x2 = FloatVector.fromArray(F, x, xb + 32);
                FloatVector x3 = FloatVector.fromArray(F, x, xb + 48);
                FloatVector dotLo = l0.fma(x0, l1.mul(x1));
                FloatVector dotHi = h0.fma(x2, h1.mul(x3));
                acc = dotLo.fma(FloatVector.broadcast(F, dLo), acc);
                acc = dotHi.fma(FloatVector.broadcast(F, dHi), acc);
                acc = x0.add(x1).fma(FloatVector.broadcast(F, mLo), acc);
                acc = x2.add(x3).fma(FloatVector.broadcast(F, mHi), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Q6_K row: per 210-byte superblock, two halves of 128; per half and per 16-element chunk c, the four
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
                for (int c = 0; c < 2; c++) {
                    ByteVector a = ByteVector.fromMemorySegment(B, w, ql + 16 * c, LE);
                    ByteVector b = ByteVector.fromMemorySegment(B, w, ql + 32 + 16 * c, LE);
                    ByteVector h = ByteVector.fromMemorySegment(B, w, qh + 16 * c, LE);
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
                    int xb = xo + i + 128 * n + 16 * c;
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
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** {@code sum a[i] * x[xo + i]} for {@code i < k}: the dot used after dequantizing a row into {@code a}. */
    public static float dotArrays(float[] a, float[] x, int xo, int k) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += 16) {
            acc = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            sum += a[i] * x[xo + i];
        }
        return sum;
    }
}
