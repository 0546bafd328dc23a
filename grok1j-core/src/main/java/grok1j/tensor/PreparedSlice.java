package grok1j.tensor;

/**
 * A matrix one of whose views, the slice a tensor-parallel rank takes (spec distributed.md §2), has been prepared
 * apart, such as an {@link InterleavedQ8_0Matrix} copy of a rank's expert columns: {@link #columns} or {@link #rows}
 * of exactly that range returns {@code slice}; every other call is the whole matrix's.
 *
 * @param whole   the matrix (views over its stored bytes)
 * @param byRows  true if {@code slice} is {@code whole.rows(from, to)}, false if {@code whole.columns(from, to)}
 * @param from    the slice's first input row or output column
 * @param to      one past its last
 * @param slice   the prepared view, of the shape that view has
 */
public record PreparedSlice(WeightMatrix whole, boolean byRows, int from, int to, WeightMatrix slice) implements WeightMatrix {

    public PreparedSlice {
        int in = byRows ? to - from : whole.inputDim(), out = byRows ? whole.outputDim() : to - from;
        if (slice.inputDim() != in || slice.outputDim() != out) {
            throw new IllegalArgumentException("a prepared " + (byRows ? "rows" : "columns") + " [" + from + ", " + to
                    + ") slice must be " + in + " x " + out + ", got " + slice.inputDim() + " x " + slice.outputDim());
        }
    }

    @Override
    public WeightMatrix columns(int from, int to) {
        return !byRows && from == this.from && to == this.to ? slice : whole.columns(from, to);
    }

    @Override
    public WeightMatrix rows(int from, int to) {
        return byRows && from == this.from && to == this.to ? slice : whole.rows(from, to);
    }

    @Override public int inputDim() { return whole.inputDim(); }
    @Override public int outputDim() { return whole.outputDim(); }
    @Override public void multiply(float[] x, int tokens, float[] y, int n0, int n1) { whole.multiply(x, tokens, y, n0, n1); }
    @Override public void multiplyBatch(float[] x, int tokens, float[] y, int n0, int n1) { whole.multiplyBatch(x, tokens, y, n0, n1); }
    @Override public int partsPerThread(int tokens) { return whole.partsPerThread(tokens); }
    @Override public int columnAlignment() { return whole.columnAlignment(); }
    @Override public WeightMatrix[] inputHalves() { return whole.inputHalves(); }
    @Override public long storedBytes() { return whole.storedBytes(); }
    @Override public String typeName() { return whole.typeName(); }
}
