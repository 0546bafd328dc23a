package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Quantization of float32 rows to ggml blocks, for the GGUF writer: F32, F16, BF16, Q8_0, Q4_K and Q6_K, with the
 * block layouts of spec kernels.md §3.
 *
 * <p>Q8_0 follows ggml's reference rule ({@code d = max|x| / 127}, {@code q = round(x / d)} half away from zero).
 * Q4_K and Q6_K follow the structure of ggml's reference quantizers: per sub-block a weighted least-squares fit of
 * scale (and min, for Q4_K) with a small search over candidate scales, then the sub-block scales are themselves
 * quantized to 6 or 8 bits against one fp16 super-scale and the values re-quantized with the scales as stored.
 * The search is written from that description; results need not equal ggml's bytes, only its layout.
 *
 * <p>Thread-safe: every method is static and allocates its small scratch locally.
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
                for (int b = 0; b < n; b += 256, o += 144) {
                    q4_k(x, xOff + b, dst, o);
                }
            }
            case Q6_K -> {
                for (int b = 0; b < n; b += 256, o += 210) {
                    q6_k(x, xOff + b, dst, o);
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
        for (int i = 0; i < 32; i++) {
            amax = Math.max(amax, Math.abs(x[xo + i]));
        }
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        dst.set(GgmlDequant.SHORT_LE, o, Float.floatToFloat16(d));
        for (int i = 0; i < 32; i++) {
            dst.set(ValueLayout.JAVA_BYTE, o + 2 + i, (byte) clamp(roundAway(x[xo + i] * id), -127, 127));
        }
    }

    /**
     * Fits {@code x ≈ scale * L + min} with {@code L in [0, nmax]} and {@code min <= 0}, minimizing the weighted
     * squared error: start from the range, then try {@code steps + 1} candidate inverse scales around it and keep
     * the least-squares (scale, min) of whichever rounding was best.
     *
     * @return {scale, -min} (both >= 0); {@code l} receives the levels
     */
    static float[] affineFit(float[] x, int xo, float[] w, int n, int nmax, int[] l, float rmin, float rdelta, int steps) {
        float min = x[xo], max = x[xo];
        for (int i = 1; i < n; i++) {
            min = Math.min(min, x[xo + i]);
            max = Math.max(max, x[xo + i]);
        }
        if (min > 0) {
            min = 0;
        }
        if (max == min) {
            for (int i = 0; i < n; i++) {
                l[i] = 0;
            }
            return new float[] {0, -min};
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestErr = 0;
        for (int i = 0; i < n; i++) {
            l[i] = clamp(Math.round(iscale * (x[xo + i] - min)), 0, nmax);
            float diff = scale * l[i] + min - x[xo + i];
            bestErr += w[i] * diff * diff;
        }
        int[] trial = new int[n];
        for (int s = 0; s <= steps; s++) {
            float is = (rmin + rdelta * s + nmax) / (max - min);
            double sw = 0, sl = 0, sl2 = 0, sxl = 0, sx = 0;
            for (int i = 0; i < n; i++) {
                int q = clamp(Math.round(is * (x[xo + i] - min)), 0, nmax);
                trial[i] = q;
                sw += w[i];
                sl += w[i] * q;
                sl2 += w[i] * q * q;
                sxl += w[i] * q * x[xo + i];
                sx += w[i] * x[xo + i];
            }
            double det = sw * sl2 - sl * sl;
            if (det <= 0) {
                continue;
            }
            float ts = (float) ((sw * sxl - sx * sl) / det);
            float tm = (float) ((sl2 * sx - sl * sxl) / det);
            if (tm > 0) {
                tm = 0;
                ts = (float) (sxl / sl2);
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = ts * trial[i] + tm - x[xo + i];
                err += w[i] * diff * diff;
            }
            if (err < bestErr) {
                bestErr = err;
                System.arraycopy(trial, 0, l, 0, n);
                scale = ts;
                min = tm;
            }
        }
        return new float[] {scale, -min};
    }

    /**
     * Q4_K: eight 32-element sub-blocks, each an affine fit with 4-bit levels (weights {@code rms(x) + |x|}); the
     * sub-block scales and mins are stored as 6-bit multiples of {@code d = max scale / 63} and
     * {@code dmin = max min / 63}, packed as kernels.md §3 (c) describes.
     */
    static void q4_k(float[] x, int xo, MemorySegment dst, long o) {
        float[] scales = new float[8];
        float[] mins = new float[8];
        int[] l = new int[256];
        int[] lsub = new int[32];
        float[] w = new float[32];
        double ss = 0;
        for (int i = 0; i < 256; i++) {
            ss += (double) x[xo + i] * x[xo + i];
        }
        float av = (float) Math.sqrt(ss / 256);
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) {
            for (int i = 0; i < 32; i++) {
                w[i] = av + Math.abs(x[xo + 32 * j + i]);
            }
            float[] sm = affineFit(x, xo + 32 * j, w, 32, 15, lsub, -1f, 0.1f, 20);
            scales[j] = sm[0];
            mins[j] = sm[1];
            maxScale = Math.max(maxScale, scales[j]);
            maxMin = Math.max(maxMin, mins[j]);
        }
        float invScale = maxScale > 0 ? 63 / maxScale : 0;
        float invMin = maxMin > 0 ? 63 / maxMin : 0;
        byte[] packed = new byte[12];
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
        MemorySegment sc = MemorySegment.ofArray(packed);
        for (int j = 0; j < 8; j++) {
            float dj = d * GgmlDequant.kScale(sc, 0, j);
            float mj = dmin * GgmlDequant.kMin(sc, 0, j);
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
     * Symmetric fit {@code x ≈ scale * L}, {@code L in [-nmax, nmax - 1]}, weights {@code x^2}: the value with the
     * largest magnitude maps to {@code -nmax} (the longer side of the range), then 19 nearby inverse scales are tried
     * and the least-squares scale of the best rounding is kept.
     *
     * @return the scale; {@code l} receives the signed levels
     */
    static float symmetricFit(float[] x, int xo, int n, int nmax, int[] l) {
        float amax = 0, max = 0;
        for (int i = 0; i < n; i++) {
            float a = Math.abs(x[xo + i]);
            if (a > amax) {
                amax = a;
                max = x[xo + i];
            }
        }
        if (amax < 1e-30f) {
            for (int i = 0; i < n; i++) {
                l[i] = 0;
            }
            return 0;
        }
        float best = -1;
        float scale = 0;
        int[] trial = new int[n];
        for (int s = -9; s <= 9; s++) {
            float is = -(nmax + 0.1f * s) / max;
            double sxl = 0, sl2 = 0;
            for (int i = 0; i < n; i++) {
                float v = x[xo + i];
                int q = clamp(Math.round(is * v), -nmax, nmax - 1);
                trial[i] = q;
                double w = (double) v * v;
                sxl += w * v * q;
                sl2 += w * q * q;
            }
            if (sl2 > 0) {
                double merit = sxl * sxl / sl2;
                if (merit > best) {
                    best = (float) merit;
                    scale = (float) (sxl / sl2);
                    System.arraycopy(trial, 0, l, 0, n);
                }
            }
        }
        return scale;
    }

    /**
     * Q6_K: sixteen 16-element sub-blocks with a symmetric 6-bit fit each; the sub-block scales are stored as int8
     * multiples of {@code d = -max scale / 128} (so the largest maps to -128), and the values re-quantized against
     * them, packed as kernels.md §3 (e) describes.
     */
    static void q6_k(float[] x, int xo, MemorySegment dst, long o) {
        float[] scales = new float[16];
        int[] l = new int[256];
        int[] lsub = new int[16];
        float maxScale = 0, maxAbs = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = symmetricFit(x, xo + 16 * ib, 16, 32, lsub);
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
