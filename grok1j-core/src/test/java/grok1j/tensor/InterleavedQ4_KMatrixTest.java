package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The interleaved Q4_K layout against scalar code, bit for bit: decode is, per row and 32-weight sub-block, one FMA
 * chain of {@code q * x} over the sub-block, then {@code total = fma(sum, sc * d, total)} and
 * {@code total = fma(m * dmin, -sum(x), total)}, with the weights read from the file's bits by the test itself;
 * prefill is the GGUF layout's GEMM. Decode also agrees with the file-layout kernel to float32 rounding. Shapes leave
 * a group over after the four-group passes, and ranges cut groups. The surefire execution {@code kernels-256-bit}
 * runs this class with 256-bit vectors.
 */
class InterleavedQ4_KMatrixTest {
    private static final int K = 3 * 256;
    private static final int N = 13 * InterleavedQ4_KMatrix.GROUP; // six two-group passes and one group over

    /** Weight {@code i} of row {@code c}, from the Q4_K layout of the ggml spec (64 weights per 32 bytes of qs, low nibbles first). */
    private static int q4(GgufMatrix m, int c, int i) {
        long o = c * m.rowBytes() + 144L * (i / 256);
        int j = i % 256;
        int b = m.data().get(ValueLayout.JAVA_BYTE, o + 16 + 32 * (j / 64) + j % 32) & 0xFF;
        return j % 64 < 32 ? b & 0xF : b >> 4;
    }

    /** {@code sc * d} (or {@code m * dmin} when {@code min}) of the sub-block holding position {@code i} of row {@code c}. */
    private static float scale(GgufMatrix m, int c, int i, boolean min) {
        long o = c * m.rowBytes() + 144L * (i / 256);
        float d = Float.float16ToFloat(m.data().get(GgmlDequant.SHORT_LE, o + (min ? 2 : 0)));
        int j = (i % 256) / 32;
        return (min ? GgmlDequant.kMin(m.data(), o + 4, j) : GgmlDequant.kScale(m.data(), o + 4, j)) * d;
    }

    /** Per row: the sub-block chains {@code sum = fma(q, x, sum)}, then the scale and the min against the activations' sum. */
    private static float[] decodeReference(GgufMatrix m, float[] x, int xo) {
        int k = m.inputDim();
        float[] y = new float[m.outputDim()];
        for (int c = 0; c < y.length; c++) {
            float total = 0f;
            for (int b = 0; b < k; b += 32) {
                float sum = 0f, xsum = 0f;
                for (int i = b; i < b + 32; i++) {
                    sum = Math.fma(q4(m, c, i), x[xo + i], sum);
                    xsum += x[xo + i];
                }
                total = Math.fma(sum, scale(m, c, b, false), total);
                total = Math.fma(scale(m, c, b, true), -xsum, total);
            }
            y[c] = total;
        }
        return y;
    }

    /** {@code sum_i (|sc * d| * q_i + |m * dmin|) * |x_i|}: the size of the terms the kernels add up for row {@code c}. */
    private static float magnitude(GgufMatrix m, int c, float[] x, int xo) {
        float sum = 0f;
        for (int i = 0; i < m.inputDim(); i++) {
            sum += (Math.abs(scale(m, c, i, false)) * q4(m, c, i) + Math.abs(scale(m, c, i, true))) * Math.abs(x[xo + i]);
        }
        return sum;
    }

    private static GgufMatrix random(Arena arena, int k, int n, long seed) {
        MemorySegment seg = GgufPanelGemmTest.randomRows(arena, GgmlType.Q4_K, k, n, new Random(seed));
        return new GgufMatrix(GgmlType.Q4_K, seg, k, n);
    }

    private static float[] randomX(int count, long seed) {
        Random r = new Random(seed);
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    @Test
    void decodeIsTheSubBlockChainBitForBit() {
        assumeTrue(InterleavedQ4_KMatrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 1);
            InterleavedQ4_KMatrix q = InterleavedQ4_KMatrix.repack(m, arena);
            float[] x = randomX(3 * K, 2);
            for (int t = 0; t < 3; t++) {
                float[] want = decodeReference(m, x, t * K);
                float[] fileLayout = new float[N];
                m.multiply(Arrays.copyOfRange(x, t * K, (t + 1) * K), 1, fileLayout, 0, N);
                // whole range, ranges that cut groups at one or both ends, a range inside one group
                int[][] ranges = {{0, N}, {5, N - 7}, {32, 3 * 32 + 1}, {40, 60}, {N - 1, N}};
                for (int[] range : ranges) {
                    float[] y = new float[3 * N];
                    Arrays.fill(y, Float.NaN);
                    q.multiply(x, 3, y, range[0], range[1]);
                    for (int c = 0; c < N; c++) {
                        boolean inside = c >= range[0] && c < range[1];
                        float got = y[t * N + c];
                        if (inside) {
                            assertEquals(want[c], got, 0f, "token " + t + " row " + c + " range " + Arrays.toString(range));
                            // the file-layout kernel takes the mins out at the end of the row: float32 rounding apart,
                            // relative to the size of the terms it sums (8 ulps of it)
                            assertEquals(fileLayout[c], got, 0x1p-21f * magnitude(m, c, x, t * K), "row " + c);
                        } else {
                            assertTrue(Float.isNaN(got), "row " + c + " outside " + Arrays.toString(range) + " was written");
                        }
                    }
                }
            }
        }
    }

    @Test
    void prefillIsTheGgufLayoutsGemmBitForBit() {
        assumeTrue(InterleavedQ4_KMatrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 3); // K past one 256-element block of the GEMM
            InterleavedQ4_KMatrix q = InterleavedQ4_KMatrix.repack(m, arena);
            int k = m.inputDim();
            for (int tokens : new int[] {1, GgufPanelGemm.MIN_TOKENS, 41}) {
                float[] x = randomX(tokens * k, 4 + tokens);
                for (int[] range : new int[][] {{0, N}, {7, 300}}) {
                    float[] want = new float[tokens * N];
                    float[] got = new float[tokens * N];
                    m.multiplyBatch(x, tokens, want, range[0], range[1]);
                    q.multiplyBatch(x, tokens, got, range[0], range[1]);
                    assertArrayEquals(want, got, tokens + " tokens, range " + Arrays.toString(range));
                }
            }
        }
    }

    @Test
    void viewsOfColumnsAndInputRowsAreTheSameViewsOfTheGgufRows() {
        assumeTrue(InterleavedQ4_KMatrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 5);
            InterleavedQ4_KMatrix q = InterleavedQ4_KMatrix.repack(m, arena);
            WeightMatrix[][] pairs = {
                    {m.columns(64, 256), q.columns(64, 256)},
                    {m.rows(256, 768), q.rows(256, 768)},
                    {m.rows(256, 512).columns(96, 416), q.rows(256, 512).columns(96, 416)}};
            for (WeightMatrix[] p : pairs) {
                GgufMatrix rowsView = (GgufMatrix) p[0];
                WeightMatrix view = p[1];
                assertEquals(rowsView.inputDim(), view.inputDim());
                assertEquals(rowsView.outputDim(), view.outputDim());
                float[] x = randomX(rowsView.inputDim(), 6);
                float[] y = new float[view.outputDim()];
                view.multiply(x, 1, y, 0, y.length);
                assertArrayEquals(decodeReference(rowsView, x, 0), y);
                int tokens = GgufPanelGemm.MIN_TOKENS + 3;
                float[] xs = randomX(tokens * rowsView.inputDim(), 7);
                float[] want = new float[tokens * view.outputDim()];
                float[] got = new float[tokens * view.outputDim()];
                rowsView.multiplyBatch(xs, tokens, want, 0, view.outputDim());
                view.multiplyBatch(xs, tokens, got, 0, view.outputDim());
                assertArrayEquals(want, got);
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> q.columns(5, 64));
            assertTrue(e.getMessage().contains("groups hold 32 columns"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> q.rows(0, 128));
            assertTrue(e.getMessage().contains("256"), e.getMessage());
        }
    }

    @Test
    void refusesWhatItCannotHold() {
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix odd = random(arena, K, N + 16, 8);
            assertFalse(InterleavedQ4_KMatrix.canRepack(odd));
            assertThrows(IllegalArgumentException.class, () -> InterleavedQ4_KMatrix.repack(odd, arena));
            GgufMatrix q8 = new GgufMatrix(GgmlType.Q8_0,
                    GgufPanelGemmTest.randomRows(arena, GgmlType.Q8_0, K, N, new Random(9)), K, N);
            assertFalse(InterleavedQ4_KMatrix.canRepack(q8));
            GgufMatrix fits = random(arena, K, N, 10);
            assertTrue(InterleavedQ4_KMatrix.canRepack(fits), "kernels for 256- and 512-bit vectors");
            assertEquals(19L * K * N / 32, InterleavedQ4_KMatrix.storedBytes(fits));
        }
    }
}
