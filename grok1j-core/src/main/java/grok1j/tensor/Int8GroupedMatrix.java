package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The official checkpoint's 8-bit weight (spec §3.5, §4.5): int8 {@code q[K, N]} row-major ({@code [in, out]}) with
 * bfloat16 scales {@code s[G, N]} grouped along the input axis, {@code W[k][n] = q[k][n] * s[k / (K/G)][n]}.
 * The product is exact in float32 (8-bit by 8-bit significands), so no rounding is introduced; per group the kernel
 * sums {@code x[k] * q[k][n]} and then multiplies by the group's scale.
 *
 * <p>Both segments are views of the memory-mapped shard: nothing is copied.
 */
public final class Int8GroupedMatrix implements WeightMatrix {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment q;
    private final MemorySegment scales;
    private final int k;
    private final int n;
    private final int groups;
    private final int groupRows;

    /**
     * @param q      int8 weights, {@code k * n} bytes
     * @param scales bf16 scales, {@code groups * n * 2} bytes, little-endian
     * @throws IllegalArgumentException if sizes disagree or {@code k} is not a multiple of {@code groups}
     */
    public Int8GroupedMatrix(MemorySegment q, MemorySegment scales, int k, int n, int groups) {
        if (groups < 1 || k % groups != 0) {
            throw new IllegalArgumentException("input dim " + k + " is not a multiple of " + groups + " scale groups");
        }
        if (q.byteSize() != (long) k * n) {
            throw new IllegalArgumentException("int8 weight has " + q.byteSize() + " bytes, expected " + (long) k * n);
        }
        if (scales.byteSize() != 2L * groups * n) {
            throw new IllegalArgumentException("scales have " + scales.byteSize() + " bytes, expected " + 2L * groups * n);
        }
        this.q = q;
        this.scales = scales;
        this.k = k;
        this.n = n;
        this.groups = groups;
        this.groupRows = k / groups;
    }

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public int columnAlignment() { return 64; }
    @Override public long storedBytes() { return q.byteSize() + scales.byteSize(); }
    @Override public String typeName() { return "int8 x bf16 scales (" + groups + (groups == 1 ? " group)" : " groups)"); }

    /** Number of scale groups along the input axis (each covers {@code inputDim() / groups()} input rows). */
    public int groups() {
        return groups;
    }

    /** Scale of group {@code g}, column {@code col}. */
    public float scale(int g, int col) {
        return BFloat16.toFloat(scales.get(BF16, 2L * ((long) g * n + col)));
    }

    /** The dequantized weight {@code W[row][col]} (exact float32). */
    public float get(int row, int col) {
        return q.get(ValueLayout.JAVA_BYTE, (long) row * n + col) * scale(row / groupRows, col);
    }

    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        for (int t = 0; t < tokens; t++) {
            multiplyRow(x, t * k, y, t * n, n0, n1);
        }
    }

    private void multiplyRow(float[] x, int xOff, float[] y, int yOff, int n0, int n1) {
        int c = n0;
        // 64 columns at a time: one cache line of each weight row, four 16-lane accumulators.
        for (; c + 64 <= n1; c += 64) {
            FloatVector t0 = FloatVector.zero(F), t1 = FloatVector.zero(F), t2 = FloatVector.zero(F), t3 = FloatVector.zero(F);
            for (int g = 0; g < groups; g++) {
                FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
                int r0 = g * groupRows;
                for (int r = r0; r < r0 + groupRows; r++) {
                    FloatVector xv = FloatVector.broadcast(F, x[xOff + r]);
                    long off = (long) r * n + c;
                    a0 = widen(off).fma(xv, a0);
                    a1 = widen(off + 16).fma(xv, a1);
                    a2 = widen(off + 32).fma(xv, a2);
                    a3 = widen(off + 48).fma(xv, a3);
                }
                long so = (long) g * n + c;
                t0 = a0.fma(scaleVector(so), t0);
                t1 = a1.fma(scaleVector(so + 16), t1);
                t2 = a2.fma(scaleVector(so + 32), t2);
                t3 = a3.fma(scaleVector(so + 48), t3);
            }
            t0.intoArray(y, yOff + c);
            t1.intoArray(y, yOff + c + 16);
            t2.intoArray(y, yOff + c + 32);
            t3.intoArray(y, yOff + c + 48);
        }
        for (; c < n1; c++) {
            float total = 0;
            for (int g = 0; g < groups; g++) {
                float acc = 0;
                int r0 = g * groupRows;
                for (int r = r0; r < r0 + groupRows; r++) {
                    acc += x[xOff + r] * q.get(ValueLayout.JAVA_BYTE, (long) r * n + c);
                }
                total += acc * scale(g, c);
            }
            y[yOff + c] = total;
        }
    }

    private FloatVector widen(long off) {
        return (FloatVector) ByteVector.fromMemorySegment(B, q, off, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2F, F, 0);
    }

    /** 16 bf16 scales starting at element {@code index}, widened to float32 (bits << 16). */
    private FloatVector scaleVector(long index) {
        IntVector bits = (IntVector) ShortVector.fromMemorySegment(S, scales, 2L * index, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.S2I, I, 0);
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }
}
