package grok1j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small float32 kernels the model calls (spec §3): matmul dispatch over threads, RMSNorm, softmax, GELU.
 * Weight-format specific inner loops live in the {@link WeightMatrix} implementations.
 */
public final class Kernels {
    private Kernels() {}

    /**
     * The float species of the small kernels and the attention kernels ({@link AttentionKernels}): the preferred one,
     * unless {@code -Dgrok1j.kernel.lanes=8|16} forces 256- or 512-bit vectors (tests run both on one machine).
     */
    static final VectorSpecies<Float> F = species();
    private static final int L = F.length();

    private static VectorSpecies<Float> species() {
        Integer lanes = Integer.getInteger("grok1j.kernel.lanes");
        if (lanes == null) {
            return FloatVector.SPECIES_PREFERRED;
        }
        return lanes >= 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    }

    /**
     * {@code sum_i a[aOff + i] * b[bOff + i]} for {@code i < n}, float32 with two vector accumulators (attention
     * logits over the KV cache). Vectors stay inside this method.
     */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return dot(a, aOff, b, bOff, n, LaneSum.scratch());
    }

    /**
     * {@link #dot(float[], int, float[], int, int)} with its lane sum through {@code lanes} (at least one vector's
     * lanes; {@link LaneSum#sum(float[], int, int)}): inlined into a large caller, a vector passed to a lane sum that
     * C2 did not inline would be boxed.
     */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n, float[] lanes) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        for (; i + L <= n; i += L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        acc0.add(acc1).intoArray(lanes, 0);
        float sum = LaneSum.sum(lanes, 0, L);
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** {@code y[yOff + i] += alpha * x[xOff + i]} for {@code i < n} (attention's weighted sum of values). */
    public static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector av = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(av, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    /** Scalar {@link #dot} (tests, benchmarks). */
    public static float dotScalar(float[] a, int aOff, float[] b, int bOff, int n) {
        float sum = 0;
        for (int i = 0; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** Scalar {@link #axpy} (tests, benchmarks). */
    public static void axpyScalar(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    /**
     * {@code y = x @ w} for {@code tokens} rows, output columns split across the pool's threads (inline when tiny).
     * Allocates nothing; see {@link MatmulList} to run several products as one region.
     *
     * @param x [tokens, w.inputDim()]
     * @param y [tokens, w.outputDim()]
     */
    public static void matmul(ThreadPool pool, WeightMatrix w, float[] x, int tokens, float[] y) {
        // the pool's own reusable work list: no task object per call
        synchronized (pool) {
            pool.matmuls().clear().add(w, x, tokens, y).run(pool);
        }
    }

    /** Splits {@code [0, n)} into {@code parts} contiguous ranges whose boundaries are multiples of {@code align}. */
    public static int[] split(int n, int align, int part, int parts) {
        int blocks = (n + align - 1) / align;
        int start = (int) Math.min(n, (long) blocks * part / parts * align);
        int end = (int) Math.min(n, (long) blocks * (part + 1) / parts * align);
        return new int[] {start, end};
    }

    /**
     * RMSNorm (spec §3.4): {@code out = scale * x / sqrt(mean(x^2) + eps)}, over each row of length {@code d}.
     * The scale is used as stored (not {@code 1 + scale}). Mean of squares accumulated in double.
     */
    public static void rmsNorm(float[] x, int xOff, float[] scale, float eps, float[] out, int outOff, int d) {
        double ss = 0;
        for (int i = 0; i < d; i++) {
            float v = x[xOff + i];
            ss += (double) v * v;
        }
        float ms = (float) (ss / d);
        float inv = (float) (1.0 / Math.sqrt(ms + eps));
        for (int i = 0; i < d; i++) {
            out[outOff + i] = scale[i] * (x[xOff + i] * inv);
        }
    }

    /** In-place float32 softmax over {@code a[off, off+n)}: max-subtracted exp, divided by the sum. */
    public static void softmax(float[] a, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, a[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(a[off + i] - max);
            a[off + i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < n; i++) {
            a[off + i] *= inv;
        }
    }

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    /** GELU, tanh approximation (jax.nn.gelu approximate=True, spec §3.8): {@code 0.5x(1+tanh(c(x+0.044715x^3)))}. */
    public static float gelu(float x) {
        double xd = x;
        return (float) (0.5 * xd * (1.0 + Math.tanh(GELU_C * (xd + 0.044715 * xd * xd * xd))));
    }
}
