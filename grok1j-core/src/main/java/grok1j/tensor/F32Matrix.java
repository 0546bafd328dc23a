package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A float32 weight over little-endian stored floats, in one of two layouts:
 * {@link Layout#IN_OUT} ({@code [K, N]}, the JAX layout, e.g. the router) or {@link Layout#OUT_IN}
 * ({@code [N, K]}, one contiguous row per output, e.g. the tied embedding used as the unembedding, or GGUF F32).
 */
public final class F32Matrix implements WeightMatrix {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Fixed-order lane sums ({@link LaneSum}): results must not depend on the JIT. */
    private static final jdk.incubator.vector.VectorShuffle<Float>[] FOLDS = LaneSum.folds(F);
    private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Storage order of the elements. */
    public enum Layout { IN_OUT, OUT_IN }

    private final MemorySegment data;
    private final int k;
    private final int n;
    private final Layout layout;

    /** @throws IllegalArgumentException if the segment is not {@code 4*k*n} bytes */
    public F32Matrix(MemorySegment data, int k, int n, Layout layout) {
        if (data.byteSize() != 4L * k * n) {
            throw new IllegalArgumentException("f32 matrix has " + data.byteSize() + " bytes, expected " + 4L * k * n);
        }
        this.data = data;
        this.k = k;
        this.n = n;
        this.layout = layout;
    }

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public long storedBytes() { return data.byteSize(); }
    @Override public String typeName() { return "f32"; }

    /**
     * Output columns {@code [from, to)} of an {@link Layout#OUT_IN} matrix: contiguous stored rows (a rank's slice of
     * the vocabulary in the unembedding).
     */
    @Override
    public WeightMatrix columns(int from, int to) {
        WeightMatrix.checkRange("columns", from, to, n);
        if (layout != Layout.OUT_IN) {
            return WeightMatrix.super.columns(from, to);
        }
        return new F32Matrix(data.asSlice(4L * from * k, 4L * (to - from) * k), k, to - from, layout);
    }

    /** {@code W[row][col]} in the logical {@code [K, N]} orientation. */
    public float get(int row, int col) {
        long idx = layout == Layout.IN_OUT ? (long) row * n + col : (long) col * k + row;
        return data.getAtIndex(LE, idx);
    }

    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        if (layout == Layout.OUT_IN) {
            // row outer, tokens inner: each stored row is read from memory once per call, whatever the token count
            for (int c = n0; c < n1; c++) {
                long off = (long) c * k * 4;
                for (int t = 0; t < tokens; t++) {
                    y[t * n + c] = dotRow(off, x, t * k);
                }
            }
        } else {
            // small [K, N] matrices (the router): double accumulation, as the scalar reference
            for (int t = 0; t < tokens; t++) {
                for (int c = n0; c < n1; c++) {
                    double acc = 0;
                    for (int r = 0; r < k; r++) {
                        acc += (double) x[t * k + r] * data.getAtIndex(LE, (long) r * n + c);
                    }
                    y[t * n + c] = (float) acc;
                }
            }
        }
    }

    /** Scalar reference of {@link #multiply} with double accumulation (tests, benchmarks). */
    public void multiplyScalar(float[] x, int tokens, float[] y, int n0, int n1) {
        for (int t = 0; t < tokens; t++) {
            for (int c = n0; c < n1; c++) {
                double acc = 0;
                for (int r = 0; r < k; r++) {
                    acc += (double) x[t * k + r] * get(r, c);
                }
                y[t * n + c] = (float) acc;
            }
        }
    }

    /** Dot product of stored row at {@code byteOff} with {@code x[xOff, xOff + k)}: four independent accumulators. */
    private float dotRow(long byteOff, float[] x, int xOff) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        final int l = F.length();
        int i = 0;
        for (; i + 4 * l <= k; i += 4 * l) {
            long o = byteOff + 4L * i;
            a0 = FloatVector.fromMemorySegment(F, data, o, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i), a0);
            a1 = FloatVector.fromMemorySegment(F, data, o + 4L * l, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i + l), a1);
            a2 = FloatVector.fromMemorySegment(F, data, o + 8L * l, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i + 2 * l), a2);
            a3 = FloatVector.fromMemorySegment(F, data, o + 12L * l, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i + 3 * l), a3);
        }
        for (; i + l <= k; i += l) {
            a0 = FloatVector.fromMemorySegment(F, data, byteOff + 4L * i, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i), a0);
        }
        float sum = LaneSum.sum(a0.add(a1).add(a2.add(a3)), FOLDS);
        for (; i < k; i++) {
            sum += data.get(LE, byteOff + 4L * i) * x[xOff + i];
        }
        return sum;
    }
}
