package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The grouped attention kernels against the per-head, per-position arithmetic they replace ({@link Kernels#dot}
 * and zero fill + {@link Kernels#axpy}, which take the same species), bit for bit, on odd head dimensions and
 * position counts. Runs at 512 and 256 bits (the {@code kernels-256-bit} execution).
 */
class AttentionKernelsTest {
    private static final int L = AttentionKernels.lanes();

    /** One head's weighted sum as attention computed it: zero fill, then an axpy per non-zero weight. */
    static void referenceSum(float[] values, int v0, int stride, int count, int n, float[] p, int pOff,
                             float[] out, int o) {
        Arrays.fill(out, o, o + n, 0f);
        for (int s = 0; s < count; s++) {
            float w = p[pOff + s];
            if (w != 0f) {
                Kernels.axpy(w, values, v0 + s * stride, out, o, n);
            }
        }
    }

    @Test
    void groupedDotsAndSumsMatchThePerHeadArithmeticBitForBit() {
        int[] dims = {1, 3, L - 1, L, L + 1, 2 * L, 2 * L + 3, 4 * L, 4 * L + 1, 5 * L + 7, 128, 131};
        int[] counts = {1, 2, 3, 7, 16, 33};
        Random rnd = new Random(42);
        for (int n : dims) {
            for (int count : counts) {
                int stride = 3 * n + 5; // several heads per cache row, rows not vector-aligned
                int v0 = n + 2;
                float[] keys = gaussian(rnd, v0 + count * stride);
                float[] values = gaussian(rnd, v0 + count * stride);
                float[] q = gaussian(rnd, 4 * n + 1);
                int q0 = 1, q1 = 1 + n, q2 = 1 + 3 * n; // not adjacent: the kernels must not assume it
                float[] got = new float[3 * count + 2];
                AttentionKernels.dots3(q, q0, q1, q2, keys, v0, stride, count, n, got, 2, 2 + count, 2 + 2 * count);
                int[] qs = {q0, q1, q2};
                for (int h = 0; h < 3; h++) {
                    for (int s = 0; s < count; s++) {
                        float want = Kernels.dot(q, qs[h], keys, v0 + s * stride, n);
                        assertBits(want, got[2 + h * count + s], "dots3 n=" + n + " count=" + count + " h=" + h + " s=" + s);
                    }
                }
                // weights as softmax leaves them: non-negative, some exactly 0 (masked or underflowed) to skip
                float[] p = new float[3 * count];
                for (int i = 0; i < p.length; i++) {
                    p[i] = rnd.nextInt(5) == 0 ? 0f : rnd.nextFloat();
                }
                if (count > 1) {
                    Arrays.fill(p, count, 2 * count, 0f); // a head whose keys are all padding
                }
                float[] want = new float[4 * n + 3];
                float[] out = new float[4 * n + 3];
                Arrays.fill(out, Float.NaN); // overwritten, not accumulated
                int[] os = {3, 3 + n, 3 + 3 * n};
                for (int h = 0; h < 3; h++) {
                    referenceSum(values, v0, stride, count, n, p, h * count, want, os[h]);
                }
                AttentionKernels.axpy3(values, v0, stride, count, n, p, 0, count, 2 * count, out, os[0], os[1], os[2]);
                for (int h = 0; h < 3; h++) {
                    for (int i = 0; i < n; i++) {
                        assertBits(want[os[h] + i], out[os[h] + i], "axpy3 n=" + n + " count=" + count + " h=" + h + " i=" + i);
                    }
                }
                float[] one = new float[n + 1];
                AttentionKernels.axpy1(values, v0, stride, count, n, p, 2 * count, one, 1);
                for (int i = 0; i < n; i++) {
                    assertBits(want[os[2] + i], one[1 + i], "axpy1 n=" + n + " count=" + count + " i=" + i);
                }
            }
        }
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    private static void assertBits(float want, float got, String where) {
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), where + ": " + want + " vs " + got);
    }
}
