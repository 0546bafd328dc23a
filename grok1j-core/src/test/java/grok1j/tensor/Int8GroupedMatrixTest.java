package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The vectorized int8 kernels (one-token matvec, multi-token panel GEMM) against the scalar double-accumulating
 * reference, on sizes that are not multiples of the vector length, the strip or the GEMM's blocks, one row, one
 * token, and column ranges split across threads.
 */
class Int8GroupedMatrixTest {
    static final Arena ARENA = Arena.ofShared();

    @AfterAll
    static void close() {
        ARENA.close();
    }

    /** A random [k, n] int8 matrix with g scale groups (bf16 scales around 0.01, some negative). */
    static Int8GroupedMatrix random(int k, int n, int g, long seed) {
        Random rnd = new Random(seed);
        MemorySegment q = ARENA.allocate(Math.max(1, (long) k * n)).asSlice(0, (long) k * n);
        for (long i = 0; i < (long) k * n; i++) {
            q.set(ValueLayout.JAVA_BYTE, i, (byte) (rnd.nextInt(256) - 128));
        }
        MemorySegment s = ARENA.allocate(2L * g * n);
        for (long i = 0; i < (long) g * n; i++) {
            float v = (rnd.nextFloat() * 0.02f + 0.001f) * (rnd.nextInt(8) == 0 ? -1 : 1);
            s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, BFloat16.fromFloat(v));
        }
        return new Int8GroupedMatrix(q, s, k, n, g);
    }

    static float[] randomVector(int len, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }

    /** Relative to the size of the terms: |got - want| <= 1e-5 * sum |x * w| + 1e-6. */
    static void assertClose(Int8GroupedMatrix w, float[] x, int tokens, float[] want, float[] got, int n0, int n1, String what) {
        int k = w.inputDim(), n = w.outputDim();
        for (int t = 0; t < tokens; t++) {
            for (int c = n0; c < n1; c++) {
                double mag = 0;
                for (int r = 0; r < k; r++) {
                    mag += Math.abs(x[t * k + r] * w.get(r, c));
                }
                assertEquals(want[t * n + c], got[t * n + c], 1e-5 * mag + 1e-6, what + " token " + t + " column " + c);
            }
        }
    }

    void check(int k, int n, int g, int tokens, ThreadPool pool) {
        Int8GroupedMatrix w = random(k, n, g, 31L * k + n + g);
        float[] x = randomVector(k * tokens, k + 7L * tokens);
        float[] want = new float[tokens * n];
        w.multiplyScalar(x, tokens, want, 0, n);
        float[] got = new float[tokens * n];
        java.util.Arrays.fill(got, Float.NaN);
        if (pool == null) {
            w.multiply(x, tokens, got, 0, n);
        } else {
            Kernels.matmul(pool, w, x, tokens, got);
        }
        assertClose(w, x, tokens, want, got, 0, n, "[" + k + "x" + n + "] g=" + g + " tokens=" + tokens);
    }

    @Test
    void oneTokenOddSizes() {
        int[][] shapes = {{1, 1}, {1, 17}, {3, 5}, {8, 88}, {88, 32}, {37, 131}, {64, 4096 + 24}, {13, 4096 * 2 + 3}};
        for (int[] s : shapes) {
            check(s[0], s[1], 1, 1, null);
        }
        check(88, 32, 8, 1, null);
        check(33, 75, 3, 1, null);
        check(24, 200, 8, 1, null);
        check(6, Int8GroupedMatrix.TILE + 40, 2, 1, null); // a second column tile, with a tail after the blocks
    }

    @Test
    void severalTokensOddSizes() {
        // below GEMM_MIN_TOKENS one matvec per token; from it on the panel GEMM (all columns, partial strips and
        // panels included), with token counts around the 4-token register tile
        for (int tokens : new int[] {2, 3, 7, 8, 9, 12, 13, 17}) {
            check(1, 70, 1, tokens, null);
            check(37, 131, 1, tokens, null);
            check(130, 64, 2, tokens, null);
            check(88, 200, 8, tokens, null);
            check(1, 300, 1, tokens, null);
            check(130, 520, 2, tokens, null);  // a 65-row scale group crosses the 64-row panel
            check(200, 777, 5, tokens, null);
        }
    }

    /**
     * Below {@link Int8GroupedMatrix#GEMM_MIN_TOKENS} each token's output is bit for bit what the one-token kernel
     * gives for that token alone, whatever else is in the batch: rows not a multiple of 4 (leftover rows after the
     * quarters), columns not a multiple of the block (a tail), one and several scale groups, a column range that does
     * not start at 0, and a second column tile.
     */
    @Test
    void severalTokensBitIdenticalToOneTokenEach() {
        int[][] shapes = {{1, 40, 1, 0, 40}, {7, 33, 1, 0, 33}, {37, 131, 1, 0, 131}, {130, 520, 2, 64, 517},
                {88, 200, 8, 0, 200}, {200, 777, 5, 70, 713}, {45, 300, 3, 64, 213}, {16, 64, 1, 0, 64},
                {6, Int8GroupedMatrix.TILE + 40, 2, 0, Int8GroupedMatrix.TILE + 40},
                {9, Int8GroupedMatrix.TILE + 40, 3, 64, Int8GroupedMatrix.TILE + 37}};
        for (int[] s : shapes) {
            int k = s[0], n = s[1], g = s[2], n0 = s[3], n1 = s[4];
            Int8GroupedMatrix w = random(k, n, g, 13L * k + n);
            for (int tokens = 2; tokens < Int8GroupedMatrix.GEMM_MIN_TOKENS; tokens++) {
                float[] x = randomVector(k * tokens, 5L * k + tokens);
                float[] got = new float[tokens * n];
                java.util.Arrays.fill(got, -7f);
                w.multiply(x, tokens, got, n0, n1);
                float[] want = new float[tokens * n];
                java.util.Arrays.fill(want, -7f);
                for (int t = 0; t < tokens; t++) {
                    float[] one = java.util.Arrays.copyOfRange(x, t * k, (t + 1) * k);
                    float[] y = new float[n];
                    java.util.Arrays.fill(y, -7f);
                    w.multiply(one, 1, y, n0, n1);
                    System.arraycopy(y, 0, want, t * n, n);
                }
                assertArrayEquals(want, got, "[" + k + "x" + n + "] g=" + g + " columns [" + n0 + ", " + n1
                        + ") tokens=" + tokens);
            }
        }
    }

    @Test
    void columnRangesSplitAcrossThreads() {
        try (ThreadPool two = new ThreadPool(2); ThreadPool three = new ThreadPool(3)) {
            for (ThreadPool p : new ThreadPool[] {two, three}) {
                check(300, 1000, 4, 1, p);
                check(97, 777, 1, 1, p);
                check(96, 250, 8, 9, p);
                check(96, 1100, 8, 9, p);
                check(5, 70, 1, 1, p); // below the handoff threshold: runs inline
            }
        }
    }

    /**
     * The panel GEMM's block tails: K of two full row blocks and a partial one, N of one full column panel and a
     * partial one ending in a partial strip, scale groups of one, of more than a block (crossing block boundaries)
     * and of a few rows, every token count from 8 to 20 (all remainders of the 4-token tile); and more column panels
     * than fit in one panel group.
     */
    @Test
    void panelGemmBlockTails() {
        int k = 2 * Int8PanelGemm.KB + 88;
        int n = Int8PanelGemm.NB + 3 * Int8PanelGemm.NR + 5;
        for (int g : new int[] {1, 3, k / 25}) {
            for (int tokens = Int8GroupedMatrix.GEMM_MIN_TOKENS; tokens <= 20; tokens++) {
                check(k, n, g, tokens, null);
            }
        }
        try (ThreadPool two = new ThreadPool(2)) {
            check(k, n, 3, 11, two);
        }
        // more column panels than a panel group: a full group and a partial one
        check(Int8PanelGemm.KB + 44, (Int8PanelGemm.MAX_GROUP + 2) * Int8PanelGemm.NB + 37, 4, 9, null);
    }

    /** A GEMM column range that starts inside a strip and ends inside the second column panel. */
    @Test
    void panelGemmColumnRange() {
        int k = Int8PanelGemm.KB + 40, n = Int8PanelGemm.NB + 200, n0 = 70, n1 = n - 3, tokens = 13;
        Int8GroupedMatrix w = random(k, n, 4, 17);
        float[] x = randomVector(k * tokens, 19);
        float[] want = new float[tokens * n];
        w.multiplyScalar(x, tokens, want, 0, n);
        float[] got = new float[tokens * n];
        java.util.Arrays.fill(got, -7f);
        w.multiply(x, tokens, got, n0, n1);
        assertClose(w, x, tokens, want, got, n0, n1, "range");
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < n; c++) {
                if (c < n0 || c >= n1) {
                    assertEquals(-7f, got[t * n + c], "column " + c + " outside the range was written");
                }
            }
        }
    }

    @Test
    void partialRangeLeavesOtherColumnsAlone() {
        Int8GroupedMatrix w = random(45, 300, 3, 5);
        for (int tokens : new int[] {1, 4}) {
            float[] x = randomVector(45 * tokens, 9);
            float[] want = new float[tokens * 300];
            w.multiplyScalar(x, tokens, want, 0, 300);
            float[] got = new float[tokens * 300];
            java.util.Arrays.fill(got, -7f);
            w.multiply(x, tokens, got, 70, 213);
            assertClose(w, x, tokens, want, got, 70, 213, "range");
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < 300; c++) {
                    if (c < 70 || c >= 213) {
                        assertEquals(-7f, got[t * 300 + c], "column " + c + " outside the range was written");
                    }
                }
            }
        }
    }

    @Test
    void inputHalvesAddUpToTheWholeProduct() {
        // one group (both halves share its scales), an even number of groups (cut at a group boundary)
        for (int[] shape : new int[][] {{64, 300, 1}, {96, 130, 8}, {2, 40, 2}}) {
            int k = shape[0], n = shape[1];
            Int8GroupedMatrix w = random(k, n, shape[2], 11);
            WeightMatrix[] halves = w.inputHalves();
            for (int tokens : new int[] {1, 9}) {
                float[] x = randomVector(k * tokens, 3);
                float[] top = new float[tokens * k / 2], bottom = new float[tokens * k / 2];
                for (int t = 0; t < tokens; t++) {
                    System.arraycopy(x, t * k, top, t * k / 2, k / 2);
                    System.arraycopy(x, t * k + k / 2, bottom, t * k / 2, k / 2);
                }
                float[] yTop = new float[tokens * n], yBottom = new float[tokens * n], sum = new float[tokens * n];
                halves[0].multiply(top, tokens, yTop, 0, n);
                halves[1].multiply(bottom, tokens, yBottom, 0, n);
                for (int i = 0; i < sum.length; i++) {
                    sum[i] = yTop[i] + yBottom[i];
                }
                float[] want = new float[tokens * n];
                w.multiplyScalar(x, tokens, want, 0, n);
                assertClose(w, x, tokens, want, sum, 0, n, "halves of [" + k + "x" + n + "] g=" + shape[2]);
            }
        }
        assertNull(random(33, 8, 1, 1).inputHalves(), "odd input dimension");
        assertNull(random(30, 8, 3, 1).inputHalves(), "an odd number of groups cannot be cut in the middle");
    }

    /** The transposed read of the GGUF writer equals get(), element for element, on views and odd group sizes. */
    @Test
    void columnsAsRowsEqualsGet() {
        for (int[] shape : new int[][] {{40, 37, 8}, {96, 50, 2}, {17, 9, 1}}) {
            int k = shape[0], n = shape[1], g = shape[2];
            Int8GroupedMatrix full = random(k, n, g, k * 31L + n);
            Int8GroupedMatrix view = (Int8GroupedMatrix) full.columns(5 % n, n); // rows wider than the view
            for (Int8GroupedMatrix m : new Int8GroupedMatrix[] {full, view}) {
                int c0 = 1, count = m.outputDim() - 2;
                float[] out = new float[3 + count * k];
                m.columnsAsRows(c0, count, out, 3);
                for (int j = 0; j < count; j++) {
                    for (int r = 0; r < k; r++) {
                        assertEquals(m.get(r, c0 + j), out[3 + j * k + r], "k " + k + " column " + (c0 + j) + " row " + r);
                    }
                }
            }
        }
    }
}
