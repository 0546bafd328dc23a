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
 * The unpacked, interleaved Q6_K layout against scalar code, bit for bit: decode is, per row and 16-weight sub-block,
 * one FMA chain of {@code (q - 32) * x} over the sub-block, then {@code total = fma(sum, sc * d, total)}, with the
 * weights read from the file's bits by the test itself; prefill is the GGUF layout's GEMM. Decode also
 * agrees with the file-layout kernel to float32 rounding. Shapes leave a group over after the four-group passes, and
 * ranges cut groups. The layout is for 512-bit vectors only: the surefire execution {@code kernels-256-bit} checks
 * that it is refused there.
 */
class InterleavedQ6_KMatrixTest {
    private static final int K = 3 * 256;
    private static final int N = 13 * InterleavedQ6_KMatrix.GROUP; // three four-group passes and one group over

    /** Weight {@code i} of row {@code c} as {@code q - 32}, from the Q6_K layout of the ggml spec (ql, qh per half of 128). */
    private static int q6(GgufMatrix m, int c, int i) {
        long o = c * m.rowBytes() + 210L * (i / 256);
        int j = i % 256, half = j / 128, quarter = (j % 128) / 32, l = j % 32;
        int ql = m.data().get(ValueLayout.JAVA_BYTE, o + 64 * half + l + (quarter % 2 == 1 ? 32 : 0)) & 0xFF;
        int qh = m.data().get(ValueLayout.JAVA_BYTE, o + 128 + 32 * half + l) & 0xFF;
        return ((quarter < 2 ? ql & 0xF : ql >> 4) | ((qh >> 2 * quarter) & 3) << 4) - 32;
    }

    /** Per row: the sub-block chains {@code sum = fma(q - 32, x, sum)}, then {@code total = fma(sum, sc * d, total)}. */
    private static float[] decodeReference(GgufMatrix m, float[] x, int xo) {
        int k = m.inputDim();
        float[] y = new float[m.outputDim()];
        for (int c = 0; c < y.length; c++) {
            float total = 0f;
            for (int b = 0; b < k; b += 16) {
                long block = c * m.rowBytes() + 210L * (b / 256);
                float d = Float.float16ToFloat(m.data().get(GgmlDequant.SHORT_LE, block + 208));
                float scale = m.data().get(ValueLayout.JAVA_BYTE, block + 192 + (b % 256) / 16) * d;
                float sum = 0f;
                for (int i = b; i < b + 16; i++) {
                    sum = Math.fma(q6(m, c, i), x[xo + i], sum);
                }
                total = Math.fma(sum, scale, total);
            }
            y[c] = total;
        }
        return y;
    }

    /** {@code sum_i |sc * d| * (|q_i - 32| + 64) * |x_i|}: the size of the terms the file-layout kernel adds up for row {@code c}. */
    private static float magnitude(GgufMatrix m, int c, float[] x, int xo) {
        float sum = 0f;
        for (int i = 0; i < m.inputDim(); i++) {
            long block = c * m.rowBytes() + 210L * (i / 256);
            float d = Float.float16ToFloat(m.data().get(GgmlDequant.SHORT_LE, block + 208));
            float scale = m.data().get(ValueLayout.JAVA_BYTE, block + 192 + (i % 256) / 16) * d;
            sum += Math.abs(scale) * (Math.abs(q6(m, c, i)) + 64) * Math.abs(x[xo + i]);
        }
        return sum;
    }

    private static GgufMatrix random(Arena arena, int k, int n, long seed) {
        MemorySegment seg = GgufPanelGemmTest.randomRows(arena, GgmlType.Q6_K, k, n, new Random(seed));
        return new GgufMatrix(GgmlType.Q6_K, seg, k, n);
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
    void unpacksEveryByteAsTheScalarDequantizer() {
        byte[] superblock = new byte[210];
        new Random(11).nextBytes(superblock);
        superblock[208] = 0x00; // d = 1.0 (f16 0x3C00), scales 1: the dequantized values are q - 32
        superblock[209] = 0x3C;
        Arrays.fill(superblock, 192, 208, (byte) 1);
        byte[] unpacked = new byte[256 + 3];
        InterleavedQ6_KMatrix.unpack(superblock, 0, unpacked, 3);
        float[] want = new float[256];
        GgmlDequant.dequantize(GgmlType.Q6_K, MemorySegment.ofArray(superblock), 0, want, 0, 256);
        for (int i = 0; i < 256; i++) {
            assertEquals(want[i], unpacked[3 + i], "weight " + i);
        }
        for (int q = 0; q < 64; q++) {
            long eight = q * 0x0101010101010101L;
            assertEquals((q - 32 & 0xFF) * 0x0101010101010101L, InterleavedQ6_KMatrix.minus32(eight), "q = " + q);
        }
    }

    @Test
    void decodeIsTheSubBlockChainBitForBit() {
        assumeTrue(InterleavedQ6_KMatrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 1);
            InterleavedQ6_KMatrix q = InterleavedQ6_KMatrix.repack(m, arena);
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
                            // the file-layout kernel sums q * x (q < 64) and takes 32 * sum(x) out at the end: float32
                            // rounding apart, relative to the size of the terms it sums (8 ulps of it)
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
        assumeTrue(InterleavedQ6_KMatrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 3); // K past one 256-element block of the GEMM
            InterleavedQ6_KMatrix q = InterleavedQ6_KMatrix.repack(m, arena);
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
        assumeTrue(InterleavedQ6_KMatrix.supported());
        try (Arena arena = Arena.ofConfined()) {
            GgufMatrix m = random(arena, K, N, 5);
            InterleavedQ6_KMatrix q = InterleavedQ6_KMatrix.repack(m, arena);
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
            assertFalse(InterleavedQ6_KMatrix.canRepack(odd));
            assertThrows(IllegalArgumentException.class, () -> InterleavedQ6_KMatrix.repack(odd, arena));
            GgufMatrix q8 = new GgufMatrix(GgmlType.Q8_0,
                    GgufPanelGemmTest.randomRows(arena, GgmlType.Q8_0, K, N, new Random(9)), K, N);
            assertFalse(InterleavedQ6_KMatrix.canRepack(q8));
            GgufMatrix fits = random(arena, K, N, 10);
            assertEquals(GgmlMatvec.lanes() == 16, InterleavedQ6_KMatrix.canRepack(fits), "512-bit vectors only");
            assertEquals(34.5 * K * N / 32, InterleavedQ6_KMatrix.storedBytes(fits));
        }
    }
}
