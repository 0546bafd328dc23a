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
    /** The kernels' width ({@link GgmlKernels#L}: the machine's, or 8 lanes when tests force it). */
    private static final VectorSpecies<Float> F = GgmlKernels.L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /**
     * Rows per pass of {@link Layout#OUT_IN} products: four with 32 vector registers (16 accumulators and 4 activation
     * vectors), two with 16 (AVX2).
     */
    static final int ROWS = F.length() >= 16 ? 4 : 2;

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
            // rows outer, tokens inner: each stored row is read from memory once per call, whatever the token count.
            // A pass takes ROWS rows, one from each part of the range, so that each part is one long sequential
            // stream (the unembedding's 131,072 rows of 24 KB), and loads each activation vector once for all of them
            int q = (n1 - n0) / ROWS;
            long part = (long) q * k * 4;
            float[] lanes = LaneSum.scratch();
            for (int c = n0; c < n0 + q; c++) {
                long off = (long) c * k * 4;
                for (int t = 0; t < tokens; t++) {
                    if (ROWS == 4) {
                        dotRows4(off, part, x, t * k, y, t * n + c, q, lanes);
                    } else {
                        dotRows2(off, part, x, t * k, y, t * n + c, q, lanes);
                    }
                }
            }
            for (int c = n0 + ROWS * q; c < n1; c++) {
                long off = (long) c * k * 4;
                for (int t = 0; t < tokens; t++) {
                    y[t * n + c] = dotRow(off, x, t * k, lanes);
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

    /**
     * {@link #dotRow} of the four rows at {@code off}, {@code off + part}, ... written to {@code y[yo + r * ys]}:
     * each row's sums are those of {@code dotRow} (same accumulators, lane sum and tail), only the loads are shared.
     */
    private void dotRows4(long off, long part, float[] x, int xOff, float[] y, int yo, int ys, float[] lanes) {
        final int l = F.length();
        final long o1 = off + part, o2 = o1 + part, o3 = o2 + part;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        FloatVector d0 = a0, d1 = a0, d2 = a0, d3 = a0;
        int i = 0;
        for (; i + 4 * l <= k; i += 4 * l) {
            final long o = 4L * i;
            FloatVector x0 = FloatVector.fromArray(F, x, xOff + i), x1 = FloatVector.fromArray(F, x, xOff + i + l);
            FloatVector x2 = FloatVector.fromArray(F, x, xOff + i + 2 * l), x3 = FloatVector.fromArray(F, x, xOff + i + 3 * l);
            a0 = FloatVector.fromMemorySegment(F, data, off + o, ByteOrder.LITTLE_ENDIAN).fma(x0, a0);
            a1 = FloatVector.fromMemorySegment(F, data, off + o + 4L * l, ByteOrder.LITTLE_ENDIAN).fma(x1, a1);
            a2 = FloatVector.fromMemorySegment(F, data, off + o + 8L * l, ByteOrder.LITTLE_ENDIAN).fma(x2, a2);
            a3 = FloatVector.fromMemorySegment(F, data, off + o + 12L * l, ByteOrder.LITTLE_ENDIAN).fma(x3, a3);
            b0 = FloatVector.fromMemorySegment(F, data, o1 + o, ByteOrder.LITTLE_ENDIAN).fma(x0, b0);
            b1 = FloatVector.fromMemorySegment(F, data, o1 + o + 4L * l, ByteOrder.LITTLE_ENDIAN).fma(x1, b1);
            b2 = FloatVector.fromMemorySegment(F, data, o1 + o + 8L * l, ByteOrder.LITTLE_ENDIAN).fma(x2, b2);
            b3 = FloatVector.fromMemorySegment(F, data, o1 + o + 12L * l, ByteOrder.LITTLE_ENDIAN).fma(x3, b3);
            c0 = FloatVector.fromMemorySegment(F, data, o2 + o, ByteOrder.LITTLE_ENDIAN).fma(x0, c0);
            c1 = FloatVector.fromMemorySegment(F, data, o2 + o + 4L * l, ByteOrder.LITTLE_ENDIAN).fma(x1, c1);
            c2 = FloatVector.fromMemorySegment(F, data, o2 + o + 8L * l, ByteOrder.LITTLE_ENDIAN).fma(x2, c2);
            c3 = FloatVector.fromMemorySegment(F, data, o2 + o + 12L * l, ByteOrder.LITTLE_ENDIAN).fma(x3, c3);
            d0 = FloatVector.fromMemorySegment(F, data, o3 + o, ByteOrder.LITTLE_ENDIAN).fma(x0, d0);
            d1 = FloatVector.fromMemorySegment(F, data, o3 + o + 4L * l, ByteOrder.LITTLE_ENDIAN).fma(x1, d1);
            d2 = FloatVector.fromMemorySegment(F, data, o3 + o + 8L * l, ByteOrder.LITTLE_ENDIAN).fma(x2, d2);
            d3 = FloatVector.fromMemorySegment(F, data, o3 + o + 12L * l, ByteOrder.LITTLE_ENDIAN).fma(x3, d3);
        }
        for (; i + l <= k; i += l) {
            final long o = 4L * i;
            FloatVector xv = FloatVector.fromArray(F, x, xOff + i);
            a0 = FloatVector.fromMemorySegment(F, data, off + o, ByteOrder.LITTLE_ENDIAN).fma(xv, a0);
            b0 = FloatVector.fromMemorySegment(F, data, o1 + o, ByteOrder.LITTLE_ENDIAN).fma(xv, b0);
            c0 = FloatVector.fromMemorySegment(F, data, o2 + o, ByteOrder.LITTLE_ENDIAN).fma(xv, c0);
            d0 = FloatVector.fromMemorySegment(F, data, o3 + o, ByteOrder.LITTLE_ENDIAN).fma(xv, d0);
        }
        // lane sums through an array (LaneSum.sum(float[], ..): this method is too big for C2 to inline calls at its end)
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        b0.add(b1).add(b2.add(b3)).intoArray(lanes, l);
        c0.add(c1).add(c2.add(c3)).intoArray(lanes, 2 * l);
        d0.add(d1).add(d2.add(d3)).intoArray(lanes, 3 * l);
        y[yo] = tail(LaneSum.sum(lanes, 0, l), off, i, x, xOff);
        y[yo + ys] = tail(LaneSum.sum(lanes, l, l), o1, i, x, xOff);
        y[yo + 2 * ys] = tail(LaneSum.sum(lanes, 2 * l, l), o2, i, x, xOff);
        y[yo + 3 * ys] = tail(LaneSum.sum(lanes, 3 * l, l), o3, i, x, xOff);
    }

    /** {@link #dotRows4} over two rows (AVX2: 8 accumulators and 4 activation vectors fit 16 registers). */
    private void dotRows2(long off, long part, float[] x, int xOff, float[] y, int yo, int ys, float[] lanes) {
        final int l = F.length();
        final long o1 = off + part;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int i = 0;
        for (; i + 4 * l <= k; i += 4 * l) {
            final long o = 4L * i;
            FloatVector x0 = FloatVector.fromArray(F, x, xOff + i), x1 = FloatVector.fromArray(F, x, xOff + i + l);
            FloatVector x2 = FloatVector.fromArray(F, x, xOff + i + 2 * l), x3 = FloatVector.fromArray(F, x, xOff + i + 3 * l);
            a0 = FloatVector.fromMemorySegment(F, data, off + o, ByteOrder.LITTLE_ENDIAN).fma(x0, a0);
            a1 = FloatVector.fromMemorySegment(F, data, off + o + 4L * l, ByteOrder.LITTLE_ENDIAN).fma(x1, a1);
            a2 = FloatVector.fromMemorySegment(F, data, off + o + 8L * l, ByteOrder.LITTLE_ENDIAN).fma(x2, a2);
            a3 = FloatVector.fromMemorySegment(F, data, off + o + 12L * l, ByteOrder.LITTLE_ENDIAN).fma(x3, a3);
            b0 = FloatVector.fromMemorySegment(F, data, o1 + o, ByteOrder.LITTLE_ENDIAN).fma(x0, b0);
            b1 = FloatVector.fromMemorySegment(F, data, o1 + o + 4L * l, ByteOrder.LITTLE_ENDIAN).fma(x1, b1);
            b2 = FloatVector.fromMemorySegment(F, data, o1 + o + 8L * l, ByteOrder.LITTLE_ENDIAN).fma(x2, b2);
            b3 = FloatVector.fromMemorySegment(F, data, o1 + o + 12L * l, ByteOrder.LITTLE_ENDIAN).fma(x3, b3);
        }
        for (; i + l <= k; i += l) {
            final long o = 4L * i;
            FloatVector xv = FloatVector.fromArray(F, x, xOff + i);
            a0 = FloatVector.fromMemorySegment(F, data, off + o, ByteOrder.LITTLE_ENDIAN).fma(xv, a0);
            b0 = FloatVector.fromMemorySegment(F, data, o1 + o, ByteOrder.LITTLE_ENDIAN).fma(xv, b0);
        }
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        b0.add(b1).add(b2.add(b3)).intoArray(lanes, l);
        y[yo] = tail(LaneSum.sum(lanes, 0, l), off, i, x, xOff);
        y[yo + ys] = tail(LaneSum.sum(lanes, l, l), o1, i, x, xOff);
    }

    /** {@code sum} plus the scalar products of the row at {@code byteOff} from element {@code i} on, as in dotRow. */
    private float tail(float sum, long byteOff, int i, float[] x, int xOff) {
        for (; i < k; i++) {
            sum += data.get(LE, byteOff + 4L * i) * x[xOff + i];
        }
        return sum;
    }

    /** Dot product of stored row at {@code byteOff} with {@code x[xOff, xOff + k)}: four independent accumulators. */
    private float dotRow(long byteOff, float[] x, int xOff, float[] lanes) {
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
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        float sum = LaneSum.sum(lanes, 0, l);
        for (; i < k; i++) {
            sum += data.get(LE, byteOff + 4L * i) * x[xOff + i];
        }
        return sum;
    }
}
