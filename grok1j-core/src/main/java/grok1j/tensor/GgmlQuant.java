package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Quantization of float32 rows to ggml blocks, for the GGUF writer: F32, F16, BF16, Q8_0, Q4_K and Q6_K, with the
 * block layouts of spec kernels.md §3.
 *
 * <p>Q8_0 follows ggml's reference rule ({@code d = max|x| / 127}, {@code q = round(x / d)} half away from zero),
 * except for blocks that already lie on an int8 grid, which are stored exactly ({@link #q8_0Exact}).
 * Q4_K and Q6_K follow the structure of ggml's reference quantizers: per sub-block a weighted least-squares fit of
 * scale (and min, for Q4_K) with a small search over candidate scales, then the sub-block scales are themselves
 * quantized to 6 or 8 bits against one fp16 super-scale and the values re-quantized with the scales as stored.
 * The search is written from that description; results need not equal ggml's bytes, only its layout.
 *
 * <p>Thread-safe: every method is static; {@link #quantize} allocates its small scratch once per call and the
 * blocks allocate nothing.
 */
public final class GgmlQuant {
    private GgmlQuant() {}

    /** Whether {@link #quantize} can write this type. */
    public static boolean canQuantize(GgmlType t) {
        return switch (t) {
            case F32, F16, BF16, Q8_0, Q4_K, Q6_K -> true;
            default -> false;
        };
    }

    /**
     * Quantizes {@code x[xOff, xOff + n)} into {@code type.bytesFor(n)} bytes at {@code dst[dstOff]}.
     *
     * @throws IllegalArgumentException if the type cannot be written or {@code n} is not a whole number of blocks
     */
    public static void quantize(GgmlType type, float[] x, int xOff, int n, MemorySegment dst, long dstOff) {
        if (!canQuantize(type)) {
            throw new IllegalArgumentException("cannot quantize to " + type);
        }
        if (n % type.blockSize() != 0) {
            throw new IllegalArgumentException(n + " elements is not a whole number of " + type + " blocks");
        }
        long o = dstOff;
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++, o += 4) {
                    dst.set(GgmlDequant.FLOAT_LE, o, x[xOff + i]);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++, o += 2) {
                    dst.set(GgmlDequant.SHORT_LE, o, Float.floatToFloat16(x[xOff + i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++, o += 2) {
                    dst.set(GgmlDequant.SHORT_LE, o, BFloat16.fromFloat(x[xOff + i]));
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < n; b += 32, o += 34) {
                    q8_0(x, xOff + b, dst, o);
                }
            }
            case Q4_K -> {
                KQuantFit.Scratch sc = new KQuantFit.Scratch();
                for (int b = 0; b < n; b += 256, o += 144) {
                    q4_k(x, xOff + b, dst, o, sc);
                }
            }
            case Q6_K -> {
                KQuantFit.Scratch sc = new KQuantFit.Scratch();
                for (int b = 0; b < n; b += 256, o += 210) {
                    q6_k(x, xOff + b, dst, o, sc);
                }
            }
            default -> throw new AssertionError(type);
        }
    }

    /** C {@code roundf}: nearest, halves away from zero (ggml's {@code nearest_int} differs only on halves). */
    static int roundAway(float v) {
        double a = Math.floor(Math.abs((double) v) + 0.5);
        return (int) Math.copySign(a, v);
    }

    private static int clamp(int v, int lo, int hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    private static float fp16(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }

    static void q8_0(float[] x, int xo, MemorySegment dst, long o) {
        float amax = 0;
        if (VECTOR) { // max is exact in any order (and NaN wins either way)
            FloatVector m = FloatVector.fromArray(F8, x, xo).abs();
            for (int i = 8; i < 32; i += 8) {
                m = m.max(FloatVector.fromArray(F8, x, xo + i).abs());
            }
            amax = Math.max(amax, m.reduceLanes(VectorOperators.MAX));
        } else {
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(x[xo + i]));
            }
        }
        if (amax > 0 && q8_0Exact(x, xo, amax, dst, o)) {
            return;
        }
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        dst.set(GgmlDequant.SHORT_LE, o, Float.floatToFloat16(d));
        for (int i = 0; i < 32; i++) {
            dst.set(ValueLayout.JAVA_BYTE, o + 2 + i, (byte) clamp(roundAway(x[xo + i] * id), -127, 127));
        }
    }

    /**
     * Stores a block whose values already lie on an int8 grid exactly: if every {@code x[i] == q[i] * d} in float32
     * for one fp16-representable {@code d = amax / k} ({@code k <= 127}) and integers {@code q[i]}, writes that
     * {@code d} and those {@code q} (the finest such grid, trying {@code k} from 127 down). This is the case of the
     * official checkpoint's int8 weights, whose 32-row blocks share one bf16 scale: their Q8_0 is then lossless,
     * where ggml's {@code d = amax / 127} would round every value a second time unless the block holds a 127.
     *
     * @return false (nothing written) if the block is not on such a grid
     */
    static boolean q8_0Exact(float[] x, int xo, float amax, MemorySegment dst, long o) {
        for (int k = 127; k >= 1; k--) {
            float d = amax / k;
            if (fp16(d) != d || !(VECTOR ? onGridVector(x, xo, d) : onGrid(x, xo, d))) {
                continue;
            }
            dst.set(GgmlDequant.SHORT_LE, o, Float.floatToFloat16(d));
            if (VECTOR) { // the quotients are integers in [-127, 127]: the cast is exact
                for (int i = 0; i < 32; i += 8) {
                    FloatVector.fromArray(F8, x, xo + i).div(d).convertShape(VectorOperators.F2B, B8, 0)
                            .intoMemorySegment(dst, o + 2 + i, java.nio.ByteOrder.LITTLE_ENDIAN);
                }
            } else {
                for (int i = 0; i < 32; i++) {
                    dst.set(ValueLayout.JAVA_BYTE, o + 2 + i, (byte) Math.rint(x[xo + i] / d));
                }
            }
            return true;
        }
        return false;
    }

    /** Whether every {@code x[i] / d} is an integer {@code q} with {@code q * d == x[i]} (float32). */
    private static boolean onGrid(float[] x, int xo, float d) {
        for (int i = 0; i < 32; i++) {
            float q = x[xo + i] / d;
            if (q != Math.rint(q) || q * d != x[xo + i]) {
                return false;
            }
        }
        return true;
    }

    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    /** Whether 8-lane float vectors are native here (else the Vector API would emulate them, far slower). */
    private static final boolean VECTOR = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256;

    /**
     * {@link #onGrid} 8 lanes at a time. {@code |x[i] / d| <= 127} (d = amax / k, k <= 127), so a quotient is an
     * integer exactly when converting it to int and back gives it again (infinite or NaN quotients fail both tests).
     */
    private static boolean onGridVector(float[] x, int xo, float d) {
        for (int i = 0; i < 32; i += 8) {
            FloatVector v = FloatVector.fromArray(F8, x, xo + i);
            FloatVector q = v.div(d);
            FloatVector r = (FloatVector) q.convert(VectorOperators.F2I, 0).convert(VectorOperators.I2F, 0);
            if (!r.compare(VectorOperators.EQ, q).and(q.mul(d).compare(VectorOperators.EQ, v)).allTrue()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Q4_K: eight 32-element sub-blocks, each an affine fit with 4-bit levels (weights {@code rms(x) + |x|}); the
     * sub-block scales and mins are stored as 6-bit multiples of {@code d = max scale / 63} and
     * {@code dmin = max min / 63}, packed as kernels.md §3 (c) describes.
     */
    static void q4_k(float[] x, int xo, MemorySegment dst, long o, KQuantFit.Scratch sc) {
        float[] scales = sc.scale;
        float[] mins = sc.mins;
        int[] l = sc.l;
        double ss = 0;
        for (int i = 0; i < 256; i++) {
            ss += (double) x[xo + i] * x[xo + i];
        }
        float av = (float) Math.sqrt(ss / 256);
        for (int j = 0; j < 8; j++) {
            for (int i = 0; i < 32; i++) {
                float v = x[xo + 32 * j + i];
                sc.xt[i * 8 + j] = v;
                sc.wt[i * 8 + j] = av + Math.abs(v);
            }
        }
        KQuantFit.affine8(15, -1f, 0.1f, 20, sc);
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) {
            maxScale = Math.max(maxScale, scales[j]);
            maxMin = Math.max(maxMin, mins[j]);
        }
        float invScale = maxScale > 0 ? 63 / maxScale : 0;
        float invMin = maxMin > 0 ? 63 / maxMin : 0;
        byte[] packed = sc.packed;
        java.util.Arrays.fill(packed, (byte) 0);
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, Math.round(invScale * scales[j]));
            int lm = Math.min(63, Math.round(invMin * mins[j]));
            if (j < 4) {
                packed[j] |= (byte) ls;
                packed[j + 4] |= (byte) lm;
            } else {
                packed[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte) ((ls >> 4) << 6);
                packed[j] |= (byte) ((lm >> 4) << 6);
            }
        }
        short dBits = Float.floatToFloat16(maxScale / 63);
        short mBits = Float.floatToFloat16(maxMin / 63);
        dst.set(GgmlDequant.SHORT_LE, o, dBits);
        dst.set(GgmlDequant.SHORT_LE, o + 2, mBits);
        MemorySegment.copy(packed, 0, dst, ValueLayout.JAVA_BYTE, o + 4, 12);
        // Re-quantize against the scales as stored, so rounding of d, dmin and the 6-bit scales is absorbed.
        float d = Float.float16ToFloat(dBits);
        float dmin = Float.float16ToFloat(mBits);
        MemorySegment scs = sc.packedSegment;
        for (int j = 0; j < 8; j++) {
            float dj = d * GgmlDequant.kScale(scs, 0, j);
            float mj = dmin * GgmlDequant.kMin(scs, 0, j);
            for (int i = 0; i < 32; i++) {
                l[32 * j + i] = dj == 0 ? 0 : clamp(Math.round((x[xo + 32 * j + i] + mj) / dj), 0, 15);
            }
        }
        for (int g = 0; g < 4; g++) {
            for (int i = 0; i < 32; i++) {
                dst.set(ValueLayout.JAVA_BYTE, o + 16 + 32 * g + i, (byte) (l[64 * g + i] | (l[64 * g + 32 + i] << 4)));
            }
        }
    }

    /**
     * Q6_K: sixteen 16-element sub-blocks with a symmetric 6-bit fit each; the sub-block scales are stored as int8
     * multiples of {@code d = -max scale / 128} (so the largest maps to -128), and the values re-quantized against
     * them, packed as kernels.md §3 (e) describes.
     */
    static void q6_k(float[] x, int xo, MemorySegment dst, long o, KQuantFit.Scratch sc) {
        float[] scales = sc.scale;
        int[] l = sc.l;
        for (int ib = 0; ib < 16; ib++) {
            for (int i = 0; i < 16; i++) {
                sc.xt[i * 16 + ib] = x[xo + 16 * ib + i];
            }
        }
        KQuantFit.symmetric16(32, sc);
        float maxScale = 0, maxAbs = 0;
        for (int ib = 0; ib < 16; ib++) {
            if (Math.abs(scales[ib]) > maxAbs) {
                maxAbs = Math.abs(scales[ib]);
                maxScale = scales[ib];
            }
        }
        if (maxAbs == 0) {
            dst.asSlice(o, 210).fill((byte) 0);
            // all levels 0 mean -32 * 0 scale: every value decodes to 0 (d = 0)
            return;
        }
        float iscale = -128f / maxScale;
        short dBits = Float.floatToFloat16(1 / iscale);
        float d = Float.float16ToFloat(dBits);
        dst.set(GgmlDequant.SHORT_LE, o + 208, dBits);
        for (int ib = 0; ib < 16; ib++) {
            int s = Math.min(127, Math.round(iscale * scales[ib]));
            dst.set(ValueLayout.JAVA_BYTE, o + 192 + ib, (byte) s);
            float dl = d * s;
            for (int i = 0; i < 16; i++) {
                int q = dl == 0 ? 0 : clamp(Math.round(x[xo + 16 * ib + i] / dl), -32, 31);
                l[16 * ib + i] = q + 32;
            }
        }
        for (int half = 0; half < 2; half++) {
            int lb = 128 * half;
            long ql = o + 64L * half;
            long qh = o + 128 + 32L * half;
            for (int i = 0; i < 32; i++) {
                int a = l[lb + i], b = l[lb + i + 32], c = l[lb + i + 64], e = l[lb + i + 96];
                dst.set(ValueLayout.JAVA_BYTE, ql + i, (byte) ((a & 0xF) | ((c & 0xF) << 4)));
                dst.set(ValueLayout.JAVA_BYTE, ql + i + 32, (byte) ((b & 0xF) | ((e & 0xF) << 4)));
                dst.set(ValueLayout.JAVA_BYTE, qh + i, (byte) ((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6)));
            }
        }
    }
}
