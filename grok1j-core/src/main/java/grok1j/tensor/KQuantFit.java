package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The scale searches of {@link GgmlQuant}'s Q4_K and Q6_K: per super-block, the fits of all its sub-blocks side by
 * side (element by element across the sub-blocks), each doing exactly the arithmetic, in the same order, that a fit
 * of that sub-block alone would do, so the bytes written do not depend on how the fits are run. With 256-bit (or
 * wider) vectors the sub-blocks are vector lanes; otherwise plain loops.
 */
final class KQuantFit {
    private KQuantFit() {}

    private static int clamp(int v, int lo, int hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    /**
     * Scratch of the K-quant fits, one per {@link GgmlQuant#quantize} call, so that a block allocates nothing (the
     * fits run millions of times per layer). Arrays of 16 hold one value per sub-block; {@code xt} and {@code wt}
     * hold a super-block transposed, {@code [element][sub-block]}.
     */
    static final class Scratch {
        final float[] xt = new float[256], wt = new float[256];
        final double[] w2t = new double[256], w3t = new double[256];
        final int[] trial = new int[256];
        final float[] levels = new float[256];
        final int[] l = new int[256];
        final float[] min = new float[16], max = new float[16], scale = new float[16], bestErr = new float[16];
        final float[] is = new float[16], ts = new float[16], tm = new float[16], err = new float[16];
        final double[] sw = new double[16], sx = new double[16], sl = new double[16], sl2 = new double[16],
                sxl = new double[16];
        final boolean[] solved = new boolean[16], flat = new boolean[16];
        final float[] mins = new float[8];
        final byte[] packed = new byte[12];
        final MemorySegment packedSegment = MemorySegment.ofArray(packed);
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_256;
    /** Whether 8-lane float vectors are native here (else the Vector API would emulate them, far slower). */
    private static final boolean VECTOR = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256;

    /** Q4_K's fits of the 8 sub-blocks in {@code sc.xt} (see {@link #affine8Scalar}). */
    static void affine8(int nmax, float rmin, float rdelta, int steps, Scratch sc) {
        if (VECTOR) {
            affine8Vector(nmax, rmin, rdelta, steps, sc);
        } else {
            affine8Scalar(nmax, rmin, rdelta, steps, sc);
        }
    }

    /** Q6_K's fits of the 16 sub-blocks in {@code sc.xt} (see {@link #symmetric16Scalar}). */
    static void symmetric16(int nmax, Scratch sc) {
        if (VECTOR) {
            symmetric16Vector(nmax, sc);
        } else {
            symmetric16Scalar(nmax, sc);
        }
    }

    /**
     * {@code clamp(Math.round(a), lo, hi)} per lane, exactly: {@code a} is first held to {@code [lo - 1, hi + 1]}
     * (which changes no clamped result and keeps the integer conversion in range), then
     * {@code round(a) = floor(a) + (a - floor(a) >= 0.5)}, Java's half-up rule; NaN gives 0 as Math.round does.
     */
    private static FloatVector roundClamp(FloatVector a, float lo, float hi) {
        FloatVector b = a.max(lo - 1).min(hi + 1);
        FloatVector t = (FloatVector) b.convert(VectorOperators.F2I, 0).convert(VectorOperators.I2F, 0);
        FloatVector floor = t.sub(1f, t.compare(VectorOperators.GT, b));
        FloatVector r = floor.add(1f, b.sub(floor).compare(VectorOperators.GE, 0.5f));
        return r.max(lo).min(hi);
    }

    /**
     * {@link #affine8Scalar} with the sub-blocks as the lanes of 8-float vectors (and of two 4-double vectors). The
     * vector loops are small methods of their own, so that C2 inlines everything in them and keeps the vectors in
     * registers (a vector that is not is boxed on the heap).
     */
    static void affine8Vector(int nmax, float rmin, float rdelta, int steps, Scratch sc) {
        affineStart(nmax, sc);
        for (int j = 0; j < 8; j++) {
            sc.flat[j] = sc.max[j] == sc.min[j];
        }
        for (int s = 0; s <= steps; s++) {
            affineSums(rmin + rdelta * s + nmax, nmax, sc);
            if (solve(sc)) {
                affineErrors(sc);
                keepBetter(sc);
            }
        }
        finish(sc);
    }

    /**
     * Each sub-block's least-squares (scale, min) of its candidate levels from the sums, into {@code sc.ts} and
     * {@code sc.tm} ({@code sc.solved}: whether the system had a solution); a positive min is replaced by 0 and the
     * scale refitted alone. Returns whether any sub-block solved.
     */
    private static boolean solve(Scratch sc) {
        double[] sw = sc.sw, sx = sc.sx, sl = sc.sl, sl2 = sc.sl2, sxl = sc.sxl;
        float[] ts = sc.ts, tm = sc.tm;
        boolean any = false;
        for (int j = 0; j < 8; j++) {
            double det = sw[j] * sl2[j] - sl[j] * sl[j];
            sc.solved[j] = det > 0;
            ts[j] = 0;
            tm[j] = 0;
            if (sc.solved[j]) {
                any = true;
                ts[j] = (float) ((sw[j] * sxl[j] - sx[j] * sl[j]) / det);
                tm[j] = (float) ((sl2[j] * sx[j] - sl[j] * sxl[j]) / det);
                if (tm[j] > 0) {
                    tm[j] = 0;
                    ts[j] = (float) (sxl[j] / sl2[j]);
                }
            }
        }
        return any;
    }

    /** Keeps each solved candidate whose error ({@code sc.err}) is below the best so far. */
    private static void keepBetter(Scratch sc) {
        for (int j = 0; j < 8; j++) {
            if (sc.solved[j] && sc.err[j] < sc.bestErr[j]) {
                sc.bestErr[j] = sc.err[j];
                sc.scale[j] = sc.ts[j];
                sc.min[j] = sc.tm[j];
            }
        }
    }

    /** The results: a flat sub-block (whose candidates never solve, so its min stays) has scale 0. */
    private static void finish(Scratch sc) {
        for (int j = 0; j < 8; j++) {
            if (sc.flat[j]) {
                sc.scale[j] = 0;
            }
            sc.mins[j] = -sc.min[j];
        }
    }

    /** The range (min clamped to <= 0), the range's scale and its error, and the sums of w and w * x. */
    private static void affineStart(int nmax, Scratch sc) {
        float[] xt = sc.xt, wt = sc.wt;
        FloatVector vmin = FloatVector.fromArray(F, xt, 0), vmax = vmin;
        for (int i = 1; i < 32; i++) {
            FloatVector x = FloatVector.fromArray(F, xt, 8 * i);
            vmin = vmin.min(x);
            vmax = vmax.max(x);
        }
        vmin = vmin.blend(0f, vmin.compare(VectorOperators.GT, 0f));
        FloatVector is = FloatVector.broadcast(F, (float) nmax).div(vmax.sub(vmin));
        FloatVector vscale = FloatVector.broadcast(F, 1f).div(is);
        FloatVector best = FloatVector.zero(F);
        DoubleVector sw0 = DoubleVector.zero(D), sw1 = sw0, sx0 = sw0, sx1 = sw0;
        for (int i = 0; i < 32; i++) {
            FloatVector x = FloatVector.fromArray(F, xt, 8 * i), w = FloatVector.fromArray(F, wt, 8 * i);
            FloatVector l = roundClamp(is.mul(x.sub(vmin)), 0, nmax);
            FloatVector diff = vscale.mul(l).add(vmin).sub(x);
            best = best.add(w.mul(diff).mul(diff));
            FloatVector wx = w.mul(x);
            sw0 = sw0.add((DoubleVector) w.convertShape(VectorOperators.F2D, D, 0));
            sw1 = sw1.add((DoubleVector) w.convertShape(VectorOperators.F2D, D, 1));
            sx0 = sx0.add((DoubleVector) wx.convertShape(VectorOperators.F2D, D, 0));
            sx1 = sx1.add((DoubleVector) wx.convertShape(VectorOperators.F2D, D, 1));
        }
        sw0.intoArray(sc.sw, 0);
        sw1.intoArray(sc.sw, 4);
        sx0.intoArray(sc.sx, 0);
        sx1.intoArray(sc.sx, 4);
        vmin.intoArray(sc.min, 0);
        vmax.intoArray(sc.max, 0);
        vscale.intoArray(sc.scale, 0);
        best.intoArray(sc.bestErr, 0);
    }

    /** One candidate ({@code c / (max - min)}): its levels and the sums of w * L, w * L^2 and w * L * x. */
    private static void affineSums(float c, int nmax, Scratch sc) {
        float[] xt = sc.xt, wt = sc.wt, levels = sc.levels;
        FloatVector vmin = FloatVector.fromArray(F, sc.min, 0);
        FloatVector is = FloatVector.broadcast(F, c).div(FloatVector.fromArray(F, sc.max, 0).sub(vmin));
        DoubleVector sl0 = DoubleVector.zero(D), sl1 = sl0, sll0 = sl0, sll1 = sl0, sxl0 = sl0, sxl1 = sl0;
        for (int i = 0; i < 32; i++) {
            FloatVector x = FloatVector.fromArray(F, xt, 8 * i), w = FloatVector.fromArray(F, wt, 8 * i);
            FloatVector q = roundClamp(is.mul(x.sub(vmin)), 0, nmax);
            q.intoArray(levels, 8 * i);
            FloatVector wq = w.mul(q), wqq = wq.mul(q), wqx = wq.mul(x);
            sl0 = sl0.add((DoubleVector) wq.convertShape(VectorOperators.F2D, D, 0));
            sl1 = sl1.add((DoubleVector) wq.convertShape(VectorOperators.F2D, D, 1));
            sll0 = sll0.add((DoubleVector) wqq.convertShape(VectorOperators.F2D, D, 0));
            sll1 = sll1.add((DoubleVector) wqq.convertShape(VectorOperators.F2D, D, 1));
            sxl0 = sxl0.add((DoubleVector) wqx.convertShape(VectorOperators.F2D, D, 0));
            sxl1 = sxl1.add((DoubleVector) wqx.convertShape(VectorOperators.F2D, D, 1));
        }
        sl0.intoArray(sc.sl, 0);
        sl1.intoArray(sc.sl, 4);
        sll0.intoArray(sc.sl2, 0);
        sll1.intoArray(sc.sl2, 4);
        sxl0.intoArray(sc.sxl, 0);
        sxl1.intoArray(sc.sxl, 4);
    }

    /** The weighted squared error of each candidate fit ({@code ts * L + tm}) into {@code sc.err}. */
    private static void affineErrors(Scratch sc) {
        float[] xt = sc.xt, wt = sc.wt, levels = sc.levels;
        FloatVector vts = FloatVector.fromArray(F, sc.ts, 0), vtm = FloatVector.fromArray(F, sc.tm, 0);
        FloatVector e = FloatVector.zero(F);
        for (int i = 0; i < 32; i++) {
            FloatVector x = FloatVector.fromArray(F, xt, 8 * i), w = FloatVector.fromArray(F, wt, 8 * i);
            FloatVector diff = vts.mul(FloatVector.fromArray(F, levels, 8 * i)).add(vtm).sub(x);
            e = e.add(w.mul(diff).mul(diff));
        }
        e.intoArray(sc.err, 0);
    }

    /** {@link #symmetric16Scalar} with the sub-blocks as the lanes of two 8-float vectors (four 4-double ones). */
    static void symmetric16Vector(int nmax, Scratch sc) {
        final int n = 16;
        float[] xt = sc.xt, amax = sc.min, max = sc.max, best = sc.bestErr, scale = sc.scale;
        double[] w2t = sc.w2t, w3t = sc.w3t, sxl = sc.sxl, sl2 = sc.sl2;
        for (int j = 0; j < 16; j++) {
            amax[j] = 0;
            max[j] = 0;
            best[j] = -1;
            scale[j] = 0;
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 16; j++) {
                float v = xt[i * 16 + j];
                float a = Math.abs(v);
                if (a > amax[j]) {
                    amax[j] = a;
                    max[j] = v;
                }
                w2t[i * 16 + j] = (double) v * v;
                w3t[i * 16 + j] = w2t[i * 16 + j] * v;
            }
        }
        FloatVector max0 = FloatVector.fromArray(F, max, 0), max1 = FloatVector.fromArray(F, max, 8);
        for (int s = -9; s <= 9; s++) {
            float c = -(nmax + 0.1f * s);
            FloatVector is0 = FloatVector.broadcast(F, c).div(max0), is1 = FloatVector.broadcast(F, c).div(max1);
            DoubleVector a0 = DoubleVector.zero(D), a1 = a0, a2 = a0, a3 = a0; // sxl, lanes 0-3, 4-7, 8-11, 12-15
            DoubleVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;                   // sl2
            for (int i = 0; i < n; i++) {
                FloatVector q0 = roundClamp(is0.mul(FloatVector.fromArray(F, xt, 16 * i)), -nmax, nmax - 1);
                FloatVector q1 = roundClamp(is1.mul(FloatVector.fromArray(F, xt, 16 * i + 8)), -nmax, nmax - 1);
                DoubleVector d0 = (DoubleVector) q0.convertShape(VectorOperators.F2D, D, 0);
                DoubleVector d1 = (DoubleVector) q0.convertShape(VectorOperators.F2D, D, 1);
                DoubleVector d2 = (DoubleVector) q1.convertShape(VectorOperators.F2D, D, 0);
                DoubleVector d3 = (DoubleVector) q1.convertShape(VectorOperators.F2D, D, 1);
                int o = 16 * i;
                a0 = a0.add(DoubleVector.fromArray(D, w3t, o).mul(d0));
                a1 = a1.add(DoubleVector.fromArray(D, w3t, o + 4).mul(d1));
                a2 = a2.add(DoubleVector.fromArray(D, w3t, o + 8).mul(d2));
                a3 = a3.add(DoubleVector.fromArray(D, w3t, o + 12).mul(d3));
                b0 = b0.add(DoubleVector.fromArray(D, w2t, o).mul(d0).mul(d0));
                b1 = b1.add(DoubleVector.fromArray(D, w2t, o + 4).mul(d1).mul(d1));
                b2 = b2.add(DoubleVector.fromArray(D, w2t, o + 8).mul(d2).mul(d2));
                b3 = b3.add(DoubleVector.fromArray(D, w2t, o + 12).mul(d3).mul(d3));
            }
            a0.intoArray(sxl, 0);
            a1.intoArray(sxl, 4);
            a2.intoArray(sxl, 8);
            a3.intoArray(sxl, 12);
            b0.intoArray(sl2, 0);
            b1.intoArray(sl2, 4);
            b2.intoArray(sl2, 8);
            b3.intoArray(sl2, 12);
            for (int j = 0; j < 16; j++) {
                if (sl2[j] > 0) {
                    double merit = sxl[j] * sxl[j] / sl2[j];
                    if (merit > best[j]) {
                        best[j] = (float) merit;
                        scale[j] = (float) (sxl[j] / sl2[j]);
                    }
                }
            }
        }
        for (int j = 0; j < 16; j++) {
            if (amax[j] < 1e-30f) {
                scale[j] = 0;
            }
        }
    }

    /**
     * Q4_K's fit of each of the 8 sub-blocks of a super-block ({@code sc.xt}, weights {@code sc.wt}, both
     * transposed): {@code x ≈ scale * L + min} with {@code L in [0, nmax]} and {@code min <= 0}, minimizing the
     * weighted squared error. Start from the range, then try {@code steps + 1} candidate inverse scales around it
     * and keep the least-squares (scale, min) of whichever rounding was best; each candidate rounds against the best
     * min found so far.
     *
     * <p>The 8 fits run side by side, element by element, so that their 8 chains of sums overlap in the CPU
     * instead of each waiting on its own additions; every fit does exactly the arithmetic it would do alone, in
     * the same order. The weighted sums of {@code w} and {@code w * x} do not depend on the candidate and are summed
     * once. Results: {@code sc.scale[j]} and {@code sc.mins[j]} (the negated min), both >= 0.
     */
    static void affine8Scalar(int nmax, float rmin, float rdelta, int steps, Scratch sc) {
        final int subs = 8, n = 32;
        float[] xt = sc.xt, wt = sc.wt, min = sc.min, max = sc.max, scale = sc.scale, bestErr = sc.bestErr;
        float[] is = sc.is, ts = sc.ts, tm = sc.tm, err = sc.err;
        double[] sw = sc.sw, sx = sc.sx, sl = sc.sl, sl2 = sc.sl2, sxl = sc.sxl;
        int[] trial = sc.trial;
        boolean[] flat = sc.flat;
        for (int j = 0; j < subs; j++) {
            min[j] = xt[j];
            max[j] = xt[j];
        }
        for (int i = 1; i < n; i++) {
            for (int j = 0; j < subs; j++) {
                min[j] = Math.min(min[j], xt[i * subs + j]);
                max[j] = Math.max(max[j], xt[i * subs + j]);
            }
        }
        for (int j = 0; j < subs; j++) {
            if (min[j] > 0) {
                min[j] = 0;
            }
            flat[j] = max[j] == min[j]; // all values equal and <= 0: scale 0, min the value
            is[j] = nmax / (max[j] - min[j]);
            scale[j] = 1 / is[j];
            bestErr[j] = 0;
            sw[j] = 0;
            sx[j] = 0;
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < subs; j++) {
                float x = xt[i * subs + j], w = wt[i * subs + j];
                int l = clamp(Math.round(is[j] * (x - min[j])), 0, nmax);
                float diff = scale[j] * l + min[j] - x;
                bestErr[j] += w * diff * diff;
                sw[j] += w;
                sx[j] += w * x;
            }
        }
        for (int s = 0; s <= steps; s++) {
            for (int j = 0; j < subs; j++) {
                is[j] = (rmin + rdelta * s + nmax) / (max[j] - min[j]);
                sl[j] = 0;
                sl2[j] = 0;
                sxl[j] = 0;
            }
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < subs; j++) {
                    float x = xt[i * subs + j];
                    int q = clamp(Math.round(is[j] * (x - min[j])), 0, nmax);
                    trial[i * subs + j] = q;
                    float wq = wt[i * subs + j] * q;
                    sl[j] += wq;
                    sl2[j] += wq * q;
                    sxl[j] += wq * x;
                }
            }
            solve(sc);
            for (int j = 0; j < subs; j++) {
                err[j] = 0;
            }
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < subs; j++) {
                    float diff = ts[j] * trial[i * subs + j] + tm[j] - xt[i * subs + j];
                    err[j] += wt[i * subs + j] * diff * diff;
                }
            }
            keepBetter(sc);
        }
        finish(sc);
    }

    /**
     * Q6_K's fit of each of the 16 sub-blocks of a super-block ({@code sc.xt}, transposed): {@code x ≈ scale * L},
     * {@code L in [-nmax, nmax - 1]}, weights {@code x^2}. The value with the largest magnitude maps to {@code -nmax}
     * (the longer side of the range), then 19 nearby inverse scales are tried and the least-squares scale of the
     * best rounding is kept. As in {@link #affine8}, the 16 fits run side by side with unchanged arithmetic; the
     * weights {@code x^2} and {@code x^3} (in double) are computed once for all candidates. Results in
     * {@code sc.scale}.
     */
    static void symmetric16Scalar(int nmax, Scratch sc) {
        final int subs = 16, n = 16;
        float[] xt = sc.xt, amax = sc.min, max = sc.max, best = sc.bestErr, scale = sc.scale, is = sc.is;
        double[] w2t = sc.w2t, w3t = sc.w3t, sxl = sc.sxl, sl2 = sc.sl2;
        for (int j = 0; j < subs; j++) {
            amax[j] = 0;
            max[j] = 0;
            best[j] = -1;
            scale[j] = 0;
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < subs; j++) {
                float v = xt[i * subs + j];
                float a = Math.abs(v);
                if (a > amax[j]) {
                    amax[j] = a;
                    max[j] = v;
                }
                w2t[i * subs + j] = (double) v * v;
                w3t[i * subs + j] = w2t[i * subs + j] * v;
            }
        }
        for (int s = -9; s <= 9; s++) {
            for (int j = 0; j < subs; j++) {
                is[j] = -(nmax + 0.1f * s) / max[j];
                sxl[j] = 0;
                sl2[j] = 0;
            }
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < subs; j++) {
                    int q = clamp(Math.round(is[j] * xt[i * subs + j]), -nmax, nmax - 1);
                    sxl[j] += w3t[i * subs + j] * q;
                    sl2[j] += w2t[i * subs + j] * q * q;
                }
            }
            for (int j = 0; j < subs; j++) {
                if (sl2[j] > 0) {
                    double merit = sxl[j] * sxl[j] / sl2[j];
                    if (merit > best[j]) {
                        best[j] = (float) merit;
                        scale[j] = (float) (sxl[j] / sl2[j]);
                    }
                }
            }
        }
        for (int j = 0; j < subs; j++) {
            if (amax[j] < 1e-30f) {
                scale[j] = 0; // all (near) zero
            }
        }
    }

}
