package grok1j.tensor;

import java.util.List;

/**
 * Matrices stacked along the input rows, {@code W = [W_0; W_1; ...]}, so that
 * {@code x @ W = x[:, rows of W_0] @ W_0 + x[:, rows of W_1] @ W_1 + ...}, the parts' products added in order. It
 * holds a row slice that cuts scale groups (each part keeps its own scales, see {@link Int8GroupedMatrix#rows}).
 * The parts share every other dimension; nothing is copied but the activations of each part.
 */
public final class StackedRows implements WeightMatrix {
    private final WeightMatrix[] parts;
    private final int[] firstRow;
    private final int k;
    private final int n;
    /** Per thread: one part's input rows and its product, grown to the largest call. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    /** @throws IllegalArgumentException if there are no parts or their output widths differ */
    public StackedRows(List<WeightMatrix> parts) {
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("no parts to stack");
        }
        this.parts = parts.toArray(WeightMatrix[]::new);
        this.firstRow = new int[this.parts.length];
        this.n = this.parts[0].outputDim();
        int rows = 0;
        for (int i = 0; i < this.parts.length; i++) {
            if (this.parts[i].outputDim() != n) {
                throw new IllegalArgumentException("stacked parts have " + this.parts[i].outputDim() + " and " + n + " columns");
            }
            firstRow[i] = rows;
            rows += this.parts[i].inputDim();
        }
        this.k = rows;
    }

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public int columnAlignment() { return parts[0].columnAlignment(); }
    @Override public String typeName() { return parts[0].typeName() + " (" + parts.length + " row parts)"; }

    @Override
    public long storedBytes() {
        long b = 0;
        for (WeightMatrix p : parts) {
            b += p.storedBytes();
        }
        return b;
    }

    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        multiply(x, tokens, y, n0, n1, false);
    }

    @Override
    public void multiplyBatch(float[] x, int tokens, float[] y, int n0, int n1) {
        multiply(x, tokens, y, n0, n1, true);
    }

    private void multiply(float[] x, int tokens, float[] y, int n0, int n1, boolean batch) {
        float[][] s = SCRATCH.get();
        for (int i = 0; i < parts.length; i++) {
            WeightMatrix p = parts[i];
            int kp = p.inputDim();
            if (s[0].length < tokens * kp) {
                s[0] = new float[tokens * kp];
            }
            if (s[1].length < tokens * n) {
                s[1] = new float[tokens * n];
            }
            float[] xp = s[0];
            for (int t = 0; t < tokens; t++) {
                System.arraycopy(x, t * k + firstRow[i], xp, t * kp, kp);
            }
            if (i == 0) {
                run(p, xp, tokens, y, n0, n1, batch);
                continue;
            }
            float[] yp = s[1];
            run(p, xp, tokens, yp, n0, n1, batch);
            for (int t = 0; t < tokens; t++) {
                for (int c = n0; c < n1; c++) {
                    y[t * n + c] += yp[t * n + c];
                }
            }
        }
    }

    private static void run(WeightMatrix p, float[] x, int tokens, float[] y, int n0, int n1, boolean batch) {
        if (batch) {
            p.multiplyBatch(x, tokens, y, n0, n1);
        } else {
            p.multiply(x, tokens, y, n0, n1);
        }
    }
}
