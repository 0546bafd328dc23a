package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Inner loops of {@link BF16Matrix}: dot products of stored bf16 rows with float32 activations.
 *
 * <p>bf16 to float32 without a cross-lane conversion: one int lane holds two little-endian bf16 values, so
 * {@code lane << 16} is the even element and {@code lane & 0xFFFF0000} the odd one, both exact float32 (grok-2 spec
 * §2: {@code float = bits << 16}). The activations are split once per call into their even and odd elements
 * ({@link #deinterleave}), so each weight load feeds two FMAs with no shuffle. Products are exact in float32 and
 * accumulated in float32 (FMA).
 *
 * <p>Species: {@code static final}, as kernels.md §4.3 requires (a species held in a field or passed as a parameter
 * is not intrinsified: 5-7x slower). It is the preferred shape unless the system property
 * {@code grok1j.vector.bits} (128, 256 or 512) asks for a narrower one; the tests run the kernels at every width the
 * machine supports by starting a JVM per width. Kernels are flat methods with vectors only in locals.
 */
final class BF16Kernels {
    private BF16Kernels() {}

    static final VectorSpecies<Integer> I = species();
    static final VectorSpecies<Float> F = VectorSpecies.of(float.class, I.vectorShape());
    /** Int (and float) lanes per vector: one vector load covers {@code 2 L} bf16 weights. */
    static final int L = I.length();
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int HIGH = 0xFFFF0000;

    private static VectorSpecies<Integer> species() {
        String bits = System.getProperty("grok1j.vector.bits");
        VectorSpecies<Integer> preferred = IntVector.SPECIES_PREFERRED;
        if (bits == null || bits.isBlank()) {
            return preferred;
        }
        int b = Integer.parseInt(bits.strip());
        if (b > preferred.vectorBitSize()) {
            throw new IllegalArgumentException("grok1j.vector.bits " + b + " is wider than this machine's "
                    + preferred.vectorBitSize());
        }
        return VectorSpecies.of(int.class, VectorShape.forBitSize(b));
    }

    /** Float32 value of the bf16 element at byte offset {@code off}. */
    static float bf16(MemorySegment w, long off) {
        return BFloat16.toFloat(w.get(BF16, off));
    }

    /**
     * Splits {@code x[t * xStride + xOff + i]}, {@code i < len}, for {@code t < tokens} into
     * {@code even[t * half + j] = x[.. + 2j]} and {@code odd[t * half + j] = x[.. + 2j + 1]}, {@code half =
     * (len + 1) / 2}; a missing last odd element is 0. Tokens {@code [tokens, padTo)} become zeros.
     */
    static void deinterleave(float[] x, int xStride, int xOff, int len, int tokens, int padTo, float[] even, float[] odd) {
        int half = (len + 1) / 2;
        for (int t = 0; t < padTo; t++) {
            int o = t * half;
            if (t >= tokens) {
                java.util.Arrays.fill(even, o, o + half, 0f);
                java.util.Arrays.fill(odd, o, o + half, 0f);
                continue;
            }
            int base = t * xStride + xOff;
            for (int j = 0; j < len / 2; j++) {
                even[o + j] = x[base + 2 * j];
                odd[o + j] = x[base + 2 * j + 1];
            }
            if ((len & 1) != 0) {
                even[o + half - 1] = x[base + len - 1];
                odd[o + half - 1] = 0f;
            }
        }
    }

    /**
     * {@code sum_i w[i] * x[i]}, {@code i < len}, for the bf16 row at byte offset {@code off} and one token's split
     * activations at {@code even/odd[xi ..]}: four accumulators, then the odd tail scalar.
     */
    static float dot1(MemorySegment w, long off, int len, float[] even, float[] odd, int xi) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int pairs = len >>> 1;
        int j = 0;
        for (; j + 2 * L <= pairs; j += 2 * L) {
            IntVector v0 = IntVector.fromMemorySegment(I, w, off + 4L * j, ByteOrder.LITTLE_ENDIAN);
            IntVector v1 = IntVector.fromMemorySegment(I, w, off + 4L * (j + L), ByteOrder.LITTLE_ENDIAN);
            a0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, even, xi + j), a0);
            a1 = v0.and(HIGH).reinterpretAsFloats().fma(FloatVector.fromArray(F, odd, xi + j), a1);
            a2 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, even, xi + j + L), a2);
            a3 = v1.and(HIGH).reinterpretAsFloats().fma(FloatVector.fromArray(F, odd, xi + j + L), a3);
        }
        for (; j + L <= pairs; j += L) {
            IntVector v0 = IntVector.fromMemorySegment(I, w, off + 4L * j, ByteOrder.LITTLE_ENDIAN);
            a0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, even, xi + j), a0);
            a1 = v0.and(HIGH).reinterpretAsFloats().fma(FloatVector.fromArray(F, odd, xi + j), a1);
        }
        // the lane sum in LaneSum's fixed order, through an array (a vector passed to a call C2 did not inline is boxed)
        float[] lanes = LaneSum.scratch();
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        float sum = LaneSum.sum(lanes, 0, L);
        for (; j < pairs; j++) {
            sum += bf16(w, off + 4L * j) * even[xi + j] + bf16(w, off + 4L * j + 2) * odd[xi + j];
        }
        if ((len & 1) != 0) {
            sum += bf16(w, off + 2L * (len - 1)) * even[xi + pairs];
        }
        return sum;
    }

    /**
     * Two bf16 rows (byte offsets {@code off0} in {@code w0}, {@code off1} in {@code w1}) times four tokens' split
     * activations (token r at {@code even/odd[xi + r * half ..]}): {@code out[2 r + row]} = the 8 dot products.
     * Each weight load serves four tokens: the decode kernel for 2-5 tokens and the prefill micro-kernel.
     */
    static void dot2x4(MemorySegment w0, long off0, MemorySegment w1, long off1, int len, float[] even, float[] odd,
                       int xi, int half, float[] out) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        final int x0 = xi, x1 = xi + half, x2 = xi + 2 * half, x3 = xi + 3 * half;
        int pairs = len >>> 1;
        int j = 0;
        for (; j + L <= pairs; j += L) {
            IntVector v0 = IntVector.fromMemorySegment(I, w0, off0 + 4L * j, ByteOrder.LITTLE_ENDIAN);
            IntVector v1 = IntVector.fromMemorySegment(I, w1, off1 + 4L * j, ByteOrder.LITTLE_ENDIAN);
            FloatVector e0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector o0 = v0.and(HIGH).reinterpretAsFloats();
            FloatVector e1 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector o1 = v1.and(HIGH).reinterpretAsFloats();
            FloatVector xe = FloatVector.fromArray(F, even, x0 + j);
            FloatVector xo = FloatVector.fromArray(F, odd, x0 + j);
            c00 = o0.fma(xo, e0.fma(xe, c00));
            c01 = o1.fma(xo, e1.fma(xe, c01));
            xe = FloatVector.fromArray(F, even, x1 + j);
            xo = FloatVector.fromArray(F, odd, x1 + j);
            c10 = o0.fma(xo, e0.fma(xe, c10));
            c11 = o1.fma(xo, e1.fma(xe, c11));
            xe = FloatVector.fromArray(F, even, x2 + j);
            xo = FloatVector.fromArray(F, odd, x2 + j);
            c20 = o0.fma(xo, e0.fma(xe, c20));
            c21 = o1.fma(xo, e1.fma(xe, c21));
            xe = FloatVector.fromArray(F, even, x3 + j);
            xo = FloatVector.fromArray(F, odd, x3 + j);
            c30 = o0.fma(xo, e0.fma(xe, c30));
            c31 = o1.fma(xo, e1.fma(xe, c31));
        }
        // lane sums in LaneSum's fixed order through an array: C2 does not inline calls at the end of this method, and
        // vectors passed to them were boxed (900 MB of garbage in a 128-token prefill of one Grok-2 layer)
        float[] lanes = LaneSum.scratch();
        c00.intoArray(lanes, 0);
        c01.intoArray(lanes, L);
        c10.intoArray(lanes, 2 * L);
        c11.intoArray(lanes, 3 * L);
        c20.intoArray(lanes, 4 * L);
        c21.intoArray(lanes, 5 * L);
        c30.intoArray(lanes, 6 * L);
        c31.intoArray(lanes, 7 * L);
        for (int h = 0; h < 8; h++) {
            out[h] = LaneSum.sum(lanes, h * L, L);
        }
        for (; j < pairs; j++) {
            float we0 = bf16(w0, off0 + 4L * j), wo0 = bf16(w0, off0 + 4L * j + 2);
            float we1 = bf16(w1, off1 + 4L * j), wo1 = bf16(w1, off1 + 4L * j + 2);
            for (int r = 0; r < 4; r++) {
                int x = xi + r * half + j;
                out[2 * r] += we0 * even[x] + wo0 * odd[x];
                out[2 * r + 1] += we1 * even[x] + wo1 * odd[x];
            }
        }
        if ((len & 1) != 0) {
            float we0 = bf16(w0, off0 + 2L * (len - 1)), we1 = bf16(w1, off1 + 2L * (len - 1));
            for (int r = 0; r < 4; r++) {
                out[2 * r] += we0 * even[xi + r * half + pairs];
                out[2 * r + 1] += we1 * even[xi + r * half + pairs];
            }
        }
    }
}
