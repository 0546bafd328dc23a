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
 * The interleaved Q8_0 layout against scalar code, bit for bit: decode is, per row and block, one FMA chain of
 * {@code q * x} over the block's 32 positions, then {@code total = fma(sum, d, total)}; prefill is the GGUF layout's
 * GEMM (the same floats dequantized). Shapes leave a group over after the four-group passes, and ranges cut groups.
 * The surefire execution {@code kernels-256-bit} runs this class with 256-bit vectors, where the layout is refused.
 */
class InterleavedQ8_0MatrixTest {
    private static final int K = 7 * 32;
    private static final int N = 13 * InterleavedQ8_0Matrix.GROUP; // three four-group passes and one group over

    private static float[] decodeReference(GgufMatrix m, float[] x, int xo) {
        int k = m.inputDim();
        float[] y = new float[m.outputDim()];
        for (int c = 0; c < y.length; c++) {
            float total = 0f;
            for (int b = 0; b < k; b += 32) {
                long block = c * m.rowBytes() + 34L * (b / 32);
                float d = Float.float16ToFloat(m.data().get(GgmlDequant.SHORT_LE, block));
                float sum = 0f;
                for (int i = b; i < b + 32; i++) {
                    sum = Math.fma(m.data().get(ValueLayout.JAVA_BYTE, block + 2 + i - b), x[xo + i], sum);
                }
                total = Math.fma(sum, d, total);
            }
            y[c] = total;
        }
        return y;
    }

    private static GgufMatrix random(Arena arena, int k, int n, long seed) {
        MemorySegment seg = GgufPanelGemmTest.randomRows(arena, GgmlType.Q8_0, k, n, new Random(seed));
        return new GgufMatrix(GgmlType.Q8_0, seg, k, n);
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
    void decodeIsTheBlockChainBitForBit() {
        assumeTrue(InterleavedQ8_0Matrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 1);
            InterleavedQ8_0Matrix q = InterleavedQ8_0Matrix.repack(m, arena);
            float[] x = randomX(3 * K, 2);
            for (int t = 0; t < 3; t++) {
                float[] want = decodeReference(m, x, t * K);
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
        assumeTrue(InterleavedQ8_0Matrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, 9 * 32, N, 3); // K past one 256-element block of the GEMM
            InterleavedQ8_0Matrix q = InterleavedQ8_0Matrix.repack(m, arena);
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
        assumeTrue(InterleavedQ8_0Matrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 5);
            InterleavedQ8_0Matrix q = InterleavedQ8_0Matrix.repack(m, arena);
            WeightMatrix[][] pairs = {
                    {m.columns(64, 256), q.columns(64, 256)},
                    {m.rows(64, 160), q.rows(64, 160)},
                    {m.rows(32, 224).columns(96, 416), q.rows(32, 224).columns(96, 416)}};
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
            assertThrows(IllegalArgumentException.class, () -> q.rows(0, 48));
        }
    }

    /** The repack's 8 x 8 byte transpose, rows apart by strides that differ on both sides. */
    @Test
    void transposesEightByEightBytes() {
        byte[] from = new byte[13 * 8 + 5];
        new java.util.Random(3).nextBytes(from);
        byte[] to = new byte[7 + 11 * 8];
        InterleavedQ8_0Matrix.transpose8x8(from, 5, 13, to, 7, 11);
        for (int r = 0; r < 8; r++) {
            for (int j = 0; j < 8; j++) {
                assertEquals(from[5 + 13 * r + j], to[7 + 11 * j + r], "row " + r + ", byte " + j);
            }
        }
    }

    @Test
    void refusesWhatItCannotHold() {
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix odd = random(arena, K, N + 16, 8);
            assertFalse(InterleavedQ8_0Matrix.canRepack(odd));
            assertThrows(IllegalArgumentException.class, () -> InterleavedQ8_0Matrix.repack(odd, arena));
            GgufMatrix q4 = new GgufMatrix(GgmlType.Q4_0,
                    GgufPanelGemmTest.randomRows(arena, GgmlType.Q4_0, K, N, new Random(9)), K, N);
            assertFalse(InterleavedQ8_0Matrix.canRepack(q4));
            GgufMatrix fits = random(arena, K, N, 10);
            assertTrue(InterleavedQ8_0Matrix.canRepack(fits), "kernels for 256- and 512-bit vectors");
        }
    }
}
