package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * Column and row slices (the tensor-parallel views): a slice's product equals the matching part of the whole
 * matrix's product computed by the scalar reference, for every token count the kernels distinguish (matvec, 2-5
 * tokens, GEMM), at cuts that fall inside scale groups, vector blocks and GGUF blocks.
 */
public class WeightSliceTest {

    public static final int[] TOKENS = {1, 2, 3, 5, 7};

    @Test
    void int8ColumnSlicesMatchTheWholeMatrix() {
        Int8GroupedMatrix w = Int8GroupedMatrixTest.random(96, 203, 8, 11);
        for (int[] cut : new int[][] {{0, 101}, {101, 203}, {37, 38}, {3, 200}, {64, 203}}) {
            WeightMatrix s = w.columns(cut[0], cut[1]);
            assertEquals(96, s.inputDim());
            assertEquals(cut[1] - cut[0], s.outputDim());
            for (int tokens : TOKENS) {
                checkColumns(w, s, cut[0], tokens);
            }
        }
    }

    @Test
    void int8RowSlicesKeepEachRowsScale() {
        // 96 rows in 8 groups of 12: cuts on group boundaries (one view) and inside groups (stacked parts)
        Int8GroupedMatrix w = Int8GroupedMatrixTest.random(96, 70, 8, 12);
        for (int[] cut : new int[][] {{0, 48}, {48, 96}, {0, 32}, {32, 64}, {64, 96}, {5, 7}, {13, 95}, {24, 36}}) {
            WeightMatrix s = w.rows(cut[0], cut[1]);
            assertEquals(cut[1] - cut[0], s.inputDim());
            for (int tokens : TOKENS) {
                checkRows(w, s, cut[0], tokens);
            }
        }
        assertInstanceOf(Int8GroupedMatrix.class, w.rows(24, 48));
        assertInstanceOf(StackedRows.class, w.rows(32, 64));
    }

    /**
     * A slice reads only its own bytes: with NaN scales everywhere outside it (as if another rank's part were
     * garbage), its products stay finite and equal to those of a clean matrix.
     */
    @Test
    void int8SlicesNeverReadOtherRanksBytes() {
        Int8GroupedMatrix clean = Int8GroupedMatrixTest.random(96, 203, 8, 14);
        MemorySegment q = Int8GroupedMatrixTest.ARENA.allocate(96L * 203);
        MemorySegment scales = Int8GroupedMatrixTest.ARENA.allocate(2L * 8 * 203);
        for (int r = 0; r < 96; r++) {
            for (int c = 0; c < 203; c++) {
                q.set(ValueLayout.JAVA_BYTE, r * 203L + c, (byte) Math.round(clean.get(r, c) / clean.scale(r / 12, c)));
            }
        }
        for (int g = 0; g < 8; g++) {
            for (int c = 0; c < 203; c++) {
                boolean mine = (c >= 64 && c < 130) || g >= 4; // the column slice, and the row slice of groups 4..7
                short bits = mine ? BFloat16.fromFloat(clean.scale(g, c)) : (short) 0x7FC0; // else a bf16 NaN
                scales.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, (long) g * 203 + c, bits);
            }
        }
        Int8GroupedMatrix poisoned = new Int8GroupedMatrix(q, scales, 96, 203, 8);
        for (int tokens : TOKENS) {
            float[] x = Int8GroupedMatrixTest.randomVector(tokens * 96, tokens);
            float[] want = new float[tokens * 66];
            float[] got = new float[tokens * 66];
            clean.columns(64, 130).multiply(x, tokens, want, 0, 66);
            poisoned.columns(64, 130).multiply(x, tokens, got, 0, 66);
            assertArrayEquals(want, got, tokens + " tokens, columns");
            float[] xr = Int8GroupedMatrixTest.randomVector(tokens * 48, tokens);
            want = new float[tokens * 203];
            got = new float[tokens * 203];
            clean.rows(48, 96).multiply(xr, tokens, want, 0, 203);
            poisoned.rows(48, 96).multiply(xr, tokens, got, 0, 203);
            assertArrayEquals(want, got, tokens + " tokens, rows");
        }
    }

    @Test
    void int8SliceOfASliceAndBytes() {
        Int8GroupedMatrix w = Int8GroupedMatrixTest.random(64, 128, 4, 13);
        WeightMatrix s = w.columns(32, 96);
        assertEquals(64L * 64 + 2L * 4 * 64, s.storedBytes());
        for (int tokens : TOKENS) {
            checkColumns(w, s, 32, tokens);
        }
        assertTrue(w.columns(0, 128).inputHalves() != null);
        assertThrows(IllegalArgumentException.class, () -> w.columns(5, 5));
        assertThrows(IllegalArgumentException.class, () -> w.rows(-1, 3));
        assertThrows(IllegalArgumentException.class, () -> w.columns(0, 129));
    }

    @Test
    void f32UnembeddingSplitsByVocabulary() {
        float[] data = Int8GroupedMatrixTest.randomVector(24 * 50, 3);
        java.lang.foreign.MemorySegment seg = Int8GroupedMatrixTest.ARENA.allocate(4L * data.length);
        for (int i = 0; i < data.length; i++) {
            seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, data[i]);
        }
        F32Matrix w = new F32Matrix(seg, 24, 50, F32Matrix.Layout.OUT_IN);
        WeightMatrix s = w.columns(17, 50);
        for (int tokens : TOKENS) {
            checkColumns(w, s, 17, tokens);
        }
    }

    /** The whole matrix's product over all columns, by the matrix's own kernel. */
    private static float[] whole(WeightMatrix w, float[] x, int tokens) {
        float[] y = new float[tokens * w.outputDim()];
        w.multiply(x, tokens, y, 0, w.outputDim());
        return y;
    }

    /**
     * bf16 {@code [out, in]} views (Grok-2, grok-2 spec §3.2): whole matrices, rank slices stacked by rows (w1/w3) and
     * joined by columns (w2), cut at slice boundaries (one slice, the N = 8 case) and across them; 9 tokens reach
     * the blocked prefill path, K = 1100 splits it into two input blocks.
     */
    @Test
    void bf16SlicesMatchTheWholeMatrix() {
        java.util.Random rnd = new java.util.Random(5);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.util.List<MemorySegment> rowParts = new java.util.ArrayList<>(), colParts = new java.util.ArrayList<>();
            for (int r = 0; r < 4; r++) {
                rowParts.add(BF16MatrixChecks.weights(arena, 6, 1100, rnd));
                colParts.add(BF16MatrixChecks.weights(arena, 30, 6, rnd));
            }
            WeightMatrix[] all = {BF16Matrix.of(BF16MatrixChecks.weights(arena, 27, 1100, rnd), 27, 1100),
                BF16Matrix.stackedRows(rowParts, 6, 1100), BF16Matrix.joinedColumns(colParts, 30, 6)};
            int[][] cuts = {{0, 6}, {6, 12}, {18, 24}, {5, 7}, {1, 23}, {12, 24}, {3, 4}};
            int[] tokenCounts = {1, 2, 3, 5, 9};
            for (WeightMatrix w : all) {
                for (int[] cut : cuts) {
                    WeightMatrix c = w.columns(cut[0], cut[1]);
                    assertEquals(cut[1] - cut[0], c.outputDim());
                    assertEquals(w.inputDim(), c.inputDim());
                    if (cut[1] <= Math.min(w.inputDim(), 24)) {
                        WeightMatrix r = w.rows(cut[0], cut[1]);
                        assertEquals(cut[1] - cut[0], r.inputDim());
                        for (int tokens : tokenCounts) {
                            checkRows(w, r, cut[0], tokens);
                        }
                        // a cut of a cut: the rank's columns of its rows
                        WeightMatrix rc = r.columns(2, 5);
                        for (int tokens : tokenCounts) {
                            checkColumns(r, rc, 2, tokens);
                        }
                    }
                    for (int tokens : tokenCounts) {
                        checkColumns(w, c, cut[0], tokens);
                    }
                }
            }
            // the N = 8 case: a cut on slice boundaries is one slice, the rank's file alone
            assertEquals("bf16", all[1].columns(6, 12).typeName());
            assertEquals("bf16", all[2].rows(18, 24).typeName());
            assertEquals("bf16 x 2 slices", all[2].rows(5, 7).typeName());
            assertThrows(IllegalArgumentException.class, () -> all[0].rows(5, 1101));
        }
    }

    public static void checkColumns(WeightMatrix w, WeightMatrix s, int from, int tokens) {
        int k = w.inputDim();
        float[] x = Int8GroupedMatrixTest.randomVector(tokens * k, 100 + tokens);
        float[] want = whole(w, x, tokens);
        float[] got = whole(s, x, tokens);
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < s.outputDim(); c++) {
                float ref = want[t * w.outputDim() + from + c];
                assertEquals(ref, got[t * s.outputDim() + c], 1e-5 * (1 + Math.abs(ref)),
                        w.typeName() + " columns from " + from + ", " + tokens + " tokens, token " + t + " column " + c);
            }
        }
    }

    /** {@code x[:, from:from+K'] @ slice} against the whole matrix's product with x zero outside those rows. */
    public static void checkRows(WeightMatrix w, WeightMatrix s, int from, int tokens) {
        int k = w.inputDim(), kp = s.inputDim(), n = w.outputDim();
        float[] xp = Int8GroupedMatrixTest.randomVector(tokens * kp, 200 + tokens);
        float[] x = new float[tokens * k];
        for (int t = 0; t < tokens; t++) {
            System.arraycopy(xp, t * kp, x, t * k + from, kp);
        }
        float[] want = whole(w, x, tokens);
        float[] got = whole(s, xp, tokens);
        for (int i = 0; i < tokens * n; i++) {
            assertEquals(want[i], got[i], 1e-4 * (1 + Math.abs(want[i])),
                    w.typeName() + " rows from " + from + ", " + tokens + " tokens, element " + i);
        }
    }
}
