package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The GGUF prefill GEMM against scalar code, bit for bit: the reference dequantizes with {@link GgmlDequant} and
 * sums each output as one float32 FMA chain over {@code k} in order, which is the GEMM's summation order. Shapes are
 * odd (K, N, tokens not multiples of the tiles or blocks). The surefire execution {@code gemm-256-bit} runs this class
 * again with {@code -Dgrok1j.kernel.lanes=8}, so the AVX2 tile is tested on AVX-512 machines too.
 */
class GgufPanelGemmTest {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
            GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
            GgmlType.Q6_K};
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Byte offsets of a block's half-precision scale fields (random bytes there could be NaN or huge). */
    static int[] halfFields(GgmlType t) {
        return switch (t) {
            case Q8_0, Q4_0, Q5_0 -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            default -> new int[0];
        };
    }

    /** {@code n} random rows of {@code k} elements, off-heap and misaligned, as a mapped tensor slice can be. */
    static MemorySegment randomRows(Arena arena, GgmlType t, int k, int n, Random r) {
        long bytes = t.bytesFor(k) * n;
        MemorySegment seg = arena.allocate(bytes + 3).asSlice(3);
        byte[] raw = new byte[(int) bytes];
        r.nextBytes(raw);
        MemorySegment.copy(raw, 0, seg, ValueLayout.JAVA_BYTE, 0, raw.length);
        long blocks = (long) k / t.blockSize() * n;
        for (long b = 0; b < blocks; b++) {
            long o = b * t.typeSize();
            switch (t) {
                case F32 -> seg.set(GgmlDequant.FLOAT_LE, o, (float) r.nextGaussian());
                case F16 -> seg.set(HALF, o, Float.floatToFloat16((float) r.nextGaussian()));
                case BF16 -> seg.set(HALF, o, (short) (Float.floatToRawIntBits((float) r.nextGaussian()) >>> 16));
                default -> {
                    for (int f : halfFields(t)) {
                        seg.set(HALF, o + f, Float.floatToFloat16((float) (r.nextGaussian() * 0.01)));
                    }
                }
            }
        }
        return seg;
    }

    /** Checks {@code y} columns {@code [n0, n1)} against the scalar FMA chain; the other columns stay NaN. */
    static void check(GgmlType t, MemorySegment seg, int k, int n, float[] x, int tokens, float[] y, int n0, int n1) {
        float[] w = new float[k];
        long rowBytes = t.bytesFor(k);
        for (int c = 0; c < n; c++) {
            if (c < n0 || c >= n1) {
                for (int tk = 0; tk < tokens; tk++) {
                    assertEquals(Float.NaN, y[tk * n + c], "column " + c + " outside the range was written");
                }
                continue;
            }
            GgmlDequant.dequantize(t, seg, c * rowBytes, w, 0, k);
            for (int tk = 0; tk < tokens; tk++) {
                float acc = 0f;
                for (int i = 0; i < k; i++) {
                    acc = Math.fma(w[i], x[tk * k + i], acc);
                }
                assertEquals(acc, y[tk * n + c], 0f, t + " k=" + k + " n=" + n + " tokens=" + tokens
                        + " token " + tk + " column " + c);
            }
        }
    }

    static float[] gaussian(int len, Random r) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static void run(GgmlType t, int k, int n, int tokens, int n0, int n1, int accFloats, Random r) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = randomRows(arena, t, k, n, r);
            float[] x = gaussian(tokens * k, r);
            float[] y = new float[tokens * n];
            Arrays.fill(y, Float.NaN);
            GgufPanelGemm.multiply(t, seg, t.bytesFor(k), k, n, x, tokens, y, n0, n1, accFloats);
            check(t, seg, k, n, x, tokens, y, n0, n1);
        }
    }

    /** The width under test is the one the property asks for (the gemm-256-bit execution really runs the AVX2 tile). */
    @Test
    void widthFollowsTheProperty() {
        Integer asked = Integer.getInteger("grok1j.kernel.lanes");
        if (asked != null) {
            assertEquals(asked >= 16 ? 16 : 8, GgufPanelGemm.L);
        }
        assertEquals(GgufPanelGemm.L == 16 ? 8 : 4, GgufPanelGemm.MR);
    }

    @Test
    void everyTypeOnOddShapes() {
        Random r = new Random(11);
        for (GgmlType t : TYPES) {
            int bs = t.blockSize();
            // K: several row blocks of KB = 256 and a short last one (floats: any length)
            int k = bs == 1 ? 2 * GgufPanelGemm.KB + 37 : bs == 32 ? 2 * GgufPanelGemm.KB + 96 : 3 * GgufPanelGemm.KB;
            run(t, k, 13, 1, 0, 13, GgufPanelGemm.ACC_FLOATS, r);
            run(t, k, 37, 2 * GgufPanelGemm.NR + 3, 5, 34, GgufPanelGemm.ACC_FLOATS, r);
            // several panels of NB columns, and several column groups (a small partial-sum budget)
            run(t, bs == 256 ? 256 : 3 * bs, GgufPanelGemm.NB * 2 + 45, 7, 3, GgufPanelGemm.NB * 2 + 44, 8192, r);
        }
    }

    /**
     * Every token count that fits one vector (the one-vector strip), and the counts around the switch to two-vector
     * strips, with several row blocks (the chain continues across KB) and several column groups.
     */
    @Test
    void fewTokensAndTheStripWidthSwitch() {
        Random r = new Random(14);
        int l = GgufPanelGemm.L;
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.F16, GgmlType.Q4_K}) {
            int k = 3 * GgufPanelGemm.KB;
            for (int tokens = 1; tokens <= l + 2; tokens++) {
                run(t, k, 19, tokens, 1, 18, GgufPanelGemm.ACC_FLOATS, r);
            }
            run(t, k, 19, GgufPanelGemm.NR, 0, 19, GgufPanelGemm.ACC_FLOATS, r);
            run(t, k, 19, GgufPanelGemm.NR + 1, 0, 19, GgufPanelGemm.ACC_FLOATS, r);
        }
        // several panels and column groups with a narrow strip
        run(GgmlType.Q6_K, 512, GgufPanelGemm.NB * 2 + 45, 3, 3, GgufPanelGemm.NB * 2 + 44, 4096, r);
        run(GgmlType.BF16, 300, GgufPanelGemm.NB * 2 + 45, l, 0, GgufPanelGemm.NB * 2 + 45, 4096, r);
    }

    /**
     * A narrow last strip after full ones (an expert's remainder of at most L tokens): token counts on both sides of
     * each strip boundary, with several row blocks, panels and column groups.
     */
    @Test
    void narrowLastStripAfterFullOnes() {
        Random r = new Random(15);
        int l = GgufPanelGemm.L, nr = GgufPanelGemm.NR;
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.F32}) {
            for (int tokens : new int[] {nr + 1, nr + l - 1, nr + l, nr + l + 1, 2 * nr, 3 * nr + 5}) {
                run(t, 3 * GgufPanelGemm.KB, 23, tokens, 2, 21, GgufPanelGemm.ACC_FLOATS, r);
            }
        }
        run(GgmlType.Q6_K, 512, GgufPanelGemm.NB * 2 + 45, 2 * nr + 3, 3, GgufPanelGemm.NB * 2 + 44, 8192, r);
    }

    /** More tokens than one pass takes: the second pass starts at token MAX_TOKENS. */
    @Test
    void tokensBeyondOnePass() {
        Random r = new Random(12);
        run(GgmlType.Q8_0, 64, 11, GgufPanelGemm.MAX_TOKENS + 21, 2, 11, GgufPanelGemm.ACC_FLOATS, r);
        run(GgmlType.Q4_K, 256, 9, GgufPanelGemm.MAX_TOKENS + 1, 0, 9, 8192, r);
    }

    /** GgufMatrix.multiply takes the GEMM from MIN_TOKENS tokens on; a column view (row pitch) works too. */
    @Test
    void matrixDispatchesPrefillHere() {
        Random r = new Random(13);
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q6_K, GgmlType.BF16}) {
            int k = 512;
            int n = 21;
            int tokens = GgufPanelGemm.MIN_TOKENS + 5;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment seg = randomRows(arena, t, k, n, r);
                float[] x = gaussian(tokens * k, r);
                float[] y = new float[tokens * n];
                Arrays.fill(y, Float.NaN);
                new GgufMatrix(t, seg, k, n).multiply(x, tokens, y, 4, 19);
                check(t, seg, k, n, x, tokens, y, 4, 19);
                // columns [4, 19) as a view: its rows keep the parent's pitch
                WeightMatrix view = new GgufMatrix(t, seg, k, n).columns(4, 19);
                float[] yv = new float[tokens * 15];
                view.multiply(x, tokens, yv, 0, 15);
                for (int tk = 0; tk < tokens; tk++) {
                    for (int c = 0; c < 15; c++) {
                        assertEquals(y[tk * n + 4 + c], yv[tk * 15 + c], 0f);
                    }
                }
            }
        }
    }
}
