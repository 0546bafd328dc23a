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
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
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

    /** {@code W[row][col]} in the logical {@code [K, N]} orientation. */
    public float get(int row, int col) {
        long idx = layout == Layout.IN_OUT ? (long) row * n + col : (long) col * k + row;
        return data.getAtIndex(LE, idx);
    }

    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        for (int t = 0; t < tokens; t++) {
            if (layout == Layout.OUT_IN) {
                for (int c = n0; c < n1; c++) {
                    y[t * n + c] = dotRow((long) c * k * 4, x, t * k);
                }
            } else {
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

    private float dotRow(long byteOff, float[] x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += F.length()) {
            FloatVector w = FloatVector.fromMemorySegment(F, data, byteOff + 4L * i, ByteOrder.LITTLE_ENDIAN);
            acc = w.fma(FloatVector.fromArray(F, x, xOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            sum += data.get(LE, byteOff + 4L * i) * x[xOff + i];
        }
        return sum;
    }
}
