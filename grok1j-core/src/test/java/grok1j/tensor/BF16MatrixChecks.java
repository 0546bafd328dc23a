package grok1j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The checks of {@link BF16Matrix} against its scalar reference, as plain code that throws {@link AssertionError}:
 * run by {@link BF16MatrixTest} in the test JVM (the preferred vector width) and, through {@link #main}, in a child
 * JVM per narrower width ({@code -Dgrok1j.vector.bits=128|256}).
 */
final class BF16MatrixChecks {
    private BF16MatrixChecks() {}

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Shapes [out, in]: odd, below and above a vector, across the prefill block of 1024. */
    static final int[][] SHAPES = {{1, 1}, {3, 5}, {2, 2}, {17, 33}, {64, 130}, {9, 2051}, {33, 1024}, {5, 4096 + 7}};
    static final int[] TOKENS = {1, 2, 3, 5, 8, 9};

    public static void main(String[] args) {
        int bits = Integer.parseInt(System.getProperty("grok1j.vector.bits"));
        if (BF16Kernels.L * 32 != bits) {
            throw new AssertionError("kernels run " + BF16Kernels.L * 32 + "-bit vectors, asked for " + bits);
        }
        all();
        System.out.println("ok " + bits);
    }

    static void all() {
        for (int[] s : SHAPES) {
            for (int tokens : TOKENS) {
                against(s[0], s[1], tokens);
            }
        }
        exactUpcast();
        slicesEqualTheMergedMatrix();
    }

    /** Random bf16 weights (at an odd byte address: the release's alignment is not guaranteed). */
    static MemorySegment weights(Arena arena, int out, int in, Random rnd) {
        MemorySegment m = arena.allocate(2L * out * in + 1).asSlice(1, 2L * out * in);
        for (long i = 0; i < (long) out * in; i++) {
            m.setAtIndex(SHORT_LE, i, BFloat16.fromFloat((float) rnd.nextGaussian()));
        }
        return m;
    }

    static float[] activations(int n, Random rnd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }

    /** The vector result is the float32 sum of exact products: within a float32 rounding budget of the double one. */
    static void against(int out, int in, int tokens) {
        Random rnd = new Random(out * 31L + in * 7L + tokens);
        try (Arena arena = Arena.ofConfined()) {
            BF16Matrix w = BF16Matrix.of(weights(arena, out, in, rnd), out, in);
            float[] x = activations(in * tokens, rnd);
            float[] want = new float[out * tokens];
            w.multiplyScalar(x, tokens, want, 0, out);
            int n0 = out > 4 ? 1 : 0; // a partial column range: the others stay untouched
            float[] got = new float[out * tokens];
            java.util.Arrays.fill(got, Float.NaN);
            w.multiply(x, tokens, got, n0, out);
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < out; c++) {
                    float g = got[t * out + c];
                    if (c < n0) {
                        check(Float.isNaN(g), "column " + c + " outside the range was written");
                        continue;
                    }
                    double bound = 0;
                    for (int k = 0; k < in; k++) {
                        bound += Math.abs((double) x[t * in + k] * w.get(k, c));
                    }
                    double tol = 1e-6 * bound * Math.sqrt(in) + 1e-30;
                    check(Math.abs(g - want[t * out + c]) <= tol, "[" + out + "x" + in + "] x" + tokens + " t " + t
                            + " c " + c + ": " + g + " vs " + want[t * out + c] + " (tol " + tol + ")");
                }
            }
        }
    }

    /** A one-hot activation returns the stored bf16 weight exactly; small integers sum exactly. */
    static void exactUpcast() {
        Random rnd = new Random(5);
        int out = 11, in = 77;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = weights(arena, out, in, rnd);
            BF16Matrix w = BF16Matrix.of(m, out, in);
            for (int tokens : new int[] {1, 3, 9}) {
                float[] x = new float[tokens * in];
                for (int t = 0; t < tokens; t++) {
                    x[t * in + (t * 13) % in] = 1f;
                }
                float[] y = new float[tokens * out];
                w.multiply(x, tokens, y, 0, out);
                for (int t = 0; t < tokens; t++) {
                    for (int c = 0; c < out; c++) {
                        float stored = BFloat16.toFloat(m.getAtIndex(SHORT_LE, (long) c * in + (t * 13) % in));
                        check(Float.floatToRawIntBits(stored) == Float.floatToRawIntBits(y[t * out + c]),
                                "one-hot x" + tokens + " c " + c + ": " + y[t * out + c] + " != stored " + stored);
                    }
                }
            }
            for (long i = 0; i < (long) out * in; i++) {
                m.setAtIndex(SHORT_LE, i, BFloat16.fromFloat((float) (rnd.nextInt(17) - 8)));
            }
            for (int tokens : new int[] {1, 4}) {
                float[] x = new float[tokens * in];
                for (int i = 0; i < x.length; i++) {
                    x[i] = rnd.nextInt(9) - 4;
                }
                float[] want = new float[tokens * out];
                float[] got = new float[tokens * out];
                w.multiplyScalar(x, tokens, want, 0, out);
                w.multiply(x, tokens, got, 0, out);
                check(java.util.Arrays.equals(want, got), "integer products must sum exactly");
            }
        }
    }

    /** Rank slices as views (stacked rows, joined columns) compute the merged matrix's product. */
    static void slicesEqualTheMergedMatrix() {
        Random rnd = new Random(11);
        int ranks = 8, d = 40, s = 6;
        try (Arena arena = Arena.ofConfined()) {
            List<MemorySegment> rowSlices = new ArrayList<>();
            List<MemorySegment> colSlices = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                rowSlices.add(weights(arena, s, d, rnd)); // [s, D]: rows r*s .. of w1
                colSlices.add(weights(arena, d, s, rnd)); // [D, s]: columns r*s .. of w2
            }
            MemorySegment rowsMerged = arena.allocate(2L * ranks * s * d);
            MemorySegment colsMerged = arena.allocate(2L * ranks * s * d);
            for (int r = 0; r < ranks; r++) {
                MemorySegment.copy(rowSlices.get(r), 0, rowsMerged, 2L * r * s * d, 2L * s * d);
                for (int row = 0; row < d; row++) {
                    MemorySegment.copy(colSlices.get(r), 2L * row * s, colsMerged, 2L * ((long) row * ranks * s + r * s), 2L * s);
                }
            }
            BF16Matrix w1 = BF16Matrix.stackedRows(rowSlices, s, d);
            BF16Matrix w2 = BF16Matrix.joinedColumns(colSlices, d, s);
            check(w1.outputDim() == ranks * s && w1.inputDim() == d, "stacked shape");
            check(w2.outputDim() == d && w2.inputDim() == ranks * s, "joined shape");
            compare(w1, BF16Matrix.of(rowsMerged, ranks * s, d), rnd);
            compare(w2, BF16Matrix.of(colsMerged, d, ranks * s), rnd);
        }
    }

    private static void compare(BF16Matrix split, BF16Matrix merged, Random rnd) {
        for (int k = 0; k < merged.inputDim(); k++) {
            for (int c = 0; c < merged.outputDim(); c++) {
                check(split.get(k, c) == merged.get(k, c), "element [" + k + ", " + c + "]");
            }
        }
        for (int tokens : new int[] {1, 2, 5, 9}) {
            float[] x = activations(tokens * merged.inputDim(), rnd);
            float[] a = new float[tokens * merged.outputDim()];
            float[] b = new float[tokens * merged.outputDim()];
            split.multiply(x, tokens, a, 0, merged.outputDim());
            merged.multiplyScalar(x, tokens, b, 0, merged.outputDim());
            for (int i = 0; i < a.length; i++) {
                check(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(b[i])), "slices x" + tokens + " at " + i + ": "
                        + a[i] + " vs " + b[i]);
            }
        }
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what + " (" + BF16Kernels.L * 32 + "-bit vectors)");
        }
    }
}
