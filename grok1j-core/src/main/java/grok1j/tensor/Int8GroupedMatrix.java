package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The official checkpoint's 8-bit weight (spec §3.5, §4.5): int8 {@code q[K, N]} row-major ({@code [in, out]}) with
 * bfloat16 scales {@code s[G, N]} grouped along the input axis, {@code W[k][n] = q[k][n] * s[k / (K/G)][n]}.
 * The product is exact in float32 (8-bit by 8-bit significands), so no rounding is introduced; per group the kernel
 * sums {@code x[k] * q[k][n]} and then multiplies by the group's scale.
 *
 * <p>Kernels (kernels.md §4.3 rules: static final species, one flat method per shape, vectors only in locals):
 * <ul>
 * <li><b>one token</b> ({@link #matvec}): the {@code [in, out]} layout is read row by row: four rows at a time, each
 *     a contiguous slice of up to {@link #TILE} columns, widened int8 to float32 and accumulated with the broadcast
 *     activations into a per-thread float32 tile (L2); the group's scales are applied once per tile. Every weight
 *     byte is read exactly once, in long sequential runs.</li>
 * <li><b>several tokens</b> (at least {@link #GEMM_MIN_TOKENS}, {@link Int8PanelGemm}): blocks of the weights are
 *     staged as int8 while the previous block is computed, dequantized (exactly) one 16-column strip at a time into
 *     L1, and multiplied with packed activations by a 4-token by 2-vector register tile.</li>
 * </ul>
 * Scratch is per thread and allocated once; the kernels allocate nothing per call.
 *
 * <p>Both segments are views of the memory-mapped shard: nothing is copied.
 */
public final class Int8GroupedMatrix implements WeightMatrix {
    // The machine's widest float vector (AVX2: 8 lanes, AVX-512: 16), and byte/short/int species of the same lane
    // count. All static final so C2 intrinsifies them (kernels.md §4.3).
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(L * 32));
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * Columns of the decode accumulator tile (128 KB of float32, in L2). Long: the weight rows are read in runs of
     * this many bytes, and DRAM streams need long runs. Measured here (1 thread, 6144 x 32768, same run as the
     * bandwidth probe): runs of 4 KB reach ~50 % of the probe, 16 KB ~80 %, whole 32 KB rows ~93 %. When a part
     * spans all columns, consecutive rows are adjacent and the whole matrix is one sequential stream.
     */
    static final int TILE = 32768;
    /**
     * Below this many tokens a product runs as one matvec per token (row runs of up to {@link #TILE} bytes). Measured
     * (GEMM speed / matvec speed, 1 / 2 threads): at 6 tokens the GEMM ties or wins on every model shape
     * (6144 x 32768: 0.99 / 1.12, 32768 x 6144: 1.27 / 1.56, 6144 x 6144: 1.45 / 1.34); at 4 tokens it still loses
     * on 6144 x 32768 at 1 thread (0.84).
     */
    static final int GEMM_MIN_TOKENS = 6;

    private static final ThreadLocal<short[]> SCALES = ThreadLocal.withInitial(() -> new short[TILE]);
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[TILE]);

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
        if (n0 >= n1 || tokens <= 0) {
            return;
        }
        if (tokens >= GEMM_MIN_TOKENS) {
            Int8PanelGemm.multiply(q, scales, k, n, groupRows, x, tokens, y, n0, n1);
            return;
        }
        float[] scratch = SCRATCH.get();
        for (int t = 0; t < tokens; t++) {
            matvec(x, t * k, y, t * n, n0, n1, scratch);
        }
    }

    /**
     * One token: {@code y[yOff + c] = sum_g s[g][c] * sum_{r in g} x[xOff + r] * q[r][c]} for {@code c in [n0, n1)}.
     * {@code acc} is at least {@link #TILE} floats.
     */
    void matvec(float[] x, int xOff, float[] y, int yOff, int n0, int n1, float[] acc) {
        final long rowBytes = n;
        for (int c0 = n0; c0 < n1; c0 += TILE) {
            final int w = Math.min(TILE, n1 - c0);
            final int wv = w - w % L;
            for (int g = 0; g < groups; g++) {
                java.util.Arrays.fill(acc, 0, w, 0f);
                final int rEnd = (g + 1) * groupRows;
                int r = g * groupRows;
                // four rows per pass: 4 broadcasts + 4 widened rows + the accumulator fit AVX2's 16 registers
                // (eight rows spilled the broadcasts to the stack: checked in the C2 output)
                for (; r + 4 <= rEnd; r += 4) {
                    final FloatVector x0 = FloatVector.broadcast(F, x[xOff + r]);
                    final FloatVector x1 = FloatVector.broadcast(F, x[xOff + r + 1]);
                    final FloatVector x2 = FloatVector.broadcast(F, x[xOff + r + 2]);
                    final FloatVector x3 = FloatVector.broadcast(F, x[xOff + r + 3]);
                    final long o0 = r * rowBytes + c0;
                    final long o1 = o0 + rowBytes;
                    final long o2 = o1 + rowBytes;
                    final long o3 = o2 + rowBytes;
                    for (int j = 0; j < wv; j += L) {
                        FloatVector a = FloatVector.fromArray(F, acc, j);
                        a = ((FloatVector) ByteVector.fromMemorySegment(B, q, o0 + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(x0, a);
                        a = ((FloatVector) ByteVector.fromMemorySegment(B, q, o1 + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(x1, a);
                        a = ((FloatVector) ByteVector.fromMemorySegment(B, q, o2 + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(x2, a);
                        a = ((FloatVector) ByteVector.fromMemorySegment(B, q, o3 + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(x3, a);
                        a.intoArray(acc, j);
                    }
                    if (wv < w) {
                        float s0 = x[xOff + r], s1 = x[xOff + r + 1], s2 = x[xOff + r + 2], s3 = x[xOff + r + 3];
                        for (int j = wv; j < w; j++) {
                            acc[j] += s0 * q.get(ValueLayout.JAVA_BYTE, o0 + j) + s1 * q.get(ValueLayout.JAVA_BYTE, o1 + j)
                                    + s2 * q.get(ValueLayout.JAVA_BYTE, o2 + j) + s3 * q.get(ValueLayout.JAVA_BYTE, o3 + j);
                        }
                    }
                }
                for (; r < rEnd; r++) {
                    final FloatVector x0 = FloatVector.broadcast(F, x[xOff + r]);
                    final long o0 = r * rowBytes + c0;
                    for (int j = 0; j < wv; j += L) {
                        FloatVector a = FloatVector.fromArray(F, acc, j);
                        a = ((FloatVector) ByteVector.fromMemorySegment(B, q, o0 + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(x0, a);
                        a.intoArray(acc, j);
                    }
                    float s0 = x[xOff + r];
                    for (int j = wv; j < w; j++) {
                        acc[j] += s0 * q.get(ValueLayout.JAVA_BYTE, o0 + j);
                    }
                }
                scaleInto(acc, w, 2L * ((long) g * n + c0), y, yOff + c0, g == 0);
            }
        }
    }

    /**
     * {@code y[yo + j] (+)= acc[j] * s[j]} for {@code j < w}, with the bf16 scales at byte {@code so}. The scales are
     * first copied to a short array: the same loop reading the segment directly made C2 hit a loop-predicate trap
     * and recompile the whole kernel over and over (running it in C1 code meanwhile).
     */
    private void scaleInto(float[] acc, int w, long so, float[] y, int yo, boolean first) {
        final short[] sc = SCALES.get();
        MemorySegment.copy(scales, BF16, so, sc, 0, w);
        final int wv = w - w % L;
        if (first) {
            for (int j = 0; j < wv; j += L) {
                FloatVector s = ((IntVector) ShortVector.fromArray(S, sc, j).convertShape(VectorOperators.S2I, I, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector.fromArray(F, acc, j).mul(s).intoArray(y, yo + j);
            }
        } else {
            for (int j = 0; j < wv; j += L) {
                FloatVector s = ((IntVector) ShortVector.fromArray(S, sc, j).convertShape(VectorOperators.S2I, I, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector.fromArray(F, acc, j).fma(s, FloatVector.fromArray(F, y, yo + j)).intoArray(y, yo + j);
            }
        }
        for (int j = wv; j < w; j++) {
            float s = BFloat16.toFloat(sc[j]);
            y[yo + j] = first ? acc[j] * s : y[yo + j] + acc[j] * s;
        }
    }

    /** Scalar reference of {@link #multiply}, double accumulation (tests and benchmarks compare against it). */
    public void multiplyScalar(float[] x, int tokens, float[] y, int n0, int n1) {
        for (int t = 0; t < tokens; t++) {
            for (int c = n0; c < n1; c++) {
                double total = 0;
                for (int g = 0; g < groups; g++) {
                    double acc = 0;
                    for (int r = g * groupRows; r < (g + 1) * groupRows; r++) {
                        acc += (double) x[t * k + r] * q.get(ValueLayout.JAVA_BYTE, (long) r * n + c);
                    }
                    total += acc * scale(g, c);
                }
                y[t * n + c] = (float) total;
            }
        }
    }
}
