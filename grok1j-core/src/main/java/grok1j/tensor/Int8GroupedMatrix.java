package grok1j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
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
 *     a contiguous slice of up to {@link #TILE} columns, converted int8 to float32 (exactly, by shifting each byte
 *     to the top of an int lane) and accumulated with the broadcast activations into a per-thread float32 tile
 *     (L2); the group's scales are applied once per tile. Every weight byte is read exactly once, in long
 *     sequential runs.</li>
 * <li><b>2 to 5 tokens</b> ({@link #matvecMulti}, a batched decode step): the same passes, each weight read from
 *     memory once and converted once for two or three tokens at a time ({@link #accumulate4x2},
 *     {@link #accumulate4x3}), one off-heap accumulator tile per token. Every token's output is bit for bit what
 *     {@link #matvec} gives for it alone, so a sequence's results do not depend on what else is in the batch.</li>
 * <li><b>more tokens</b> (at least {@link #GEMM_MIN_TOKENS}, {@link Int8PanelGemm}): blocks of the weights are
 *     staged as int8 while the previous block is computed, dequantized (exactly) one 16-column strip at a time into
 *     L1, and multiplied with packed activations by a 4-token by 2-vector register tile.</li>
 * </ul>
 * Scratch is per thread and allocated once; the kernels allocate nothing per call.
 *
 * <p>Both segments are views of the memory-mapped shard: nothing is copied.
 */
public final class Int8GroupedMatrix implements WeightMatrix {
    // The machine's widest float vector (AVX2: 8 lanes, AVX-512: 16; tests force 8 with grok1j.kernel.lanes, as for
    // the GGUF kernels), and the int species of the same lane count. All static final so C2 intrinsifies them
    // (kernels.md §4.3).
    private static final int L = GgmlKernels.L;
    private static final VectorSpecies<Float> F = L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
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
    /** Columns per step of the decode kernel: the bytes of one int vector (32 on AVX2). */
    static final int BLOCK = 4 * L;
    private static final int TOP_BYTE = 0xFF000000;
    /**
     * Below this many tokens a product runs as matvec passes (row runs of up to {@link #TILE} bytes; from 2 tokens
     * {@link #matvecMulti}). Measured against one matvec per token, before matvecMulti existed
     * (GEMM speed / matvec speed, 1 / 2 threads): at 6 tokens the GEMM ties or wins on every model shape
     * (6144 x 32768: 0.99 / 1.12, 32768 x 6144: 1.27 / 1.56, 6144 x 6144: 1.45 / 1.34); at 4 tokens it still loses
     * on 6144 x 32768 at 1 thread (0.84).
     */
    static final int GEMM_MIN_TOKENS = 6;

    /**
     * Floats from one token's accumulator tile to the next in the multi-token scratch: a tile plus 256 bytes, so
     * that the tokens' tiles (and their streams through the cache) do not fall on the same cache sets.
     */
    private static final int MULTI_STRIDE = TILE + 64;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final ThreadLocal<short[]> SCALES = ThreadLocal.withInitial(() -> new short[TILE]);
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[TILE]);
    /** {@link #matvecMulti}'s accumulator tiles, one per token, off-heap (see there why). */
    private static final ThreadLocal<MemorySegment> MULTI_SCRATCH = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(4L * MULTI_STRIDE * (GEMM_MIN_TOKENS - 1), 64));

    private final MemorySegment q;
    private final MemorySegment scales;
    private final int k;
    private final int n;
    private final int groups;
    private final int groupRows;
    /** Elements from one row of {@code q} (and of {@code scales}) to the next: {@code n}, or wider in a column slice. */
    private final long stride;

    /**
     * @param q      int8 weights, {@code k * n} bytes
     * @param scales bf16 scales, {@code groups * n * 2} bytes, little-endian
     * @throws IllegalArgumentException if sizes disagree or {@code k} is not a multiple of {@code groups}
     */
    public Int8GroupedMatrix(MemorySegment q, MemorySegment scales, int k, int n, int groups) {
        this(q, scales, k, n, groups, n);
        if (q.byteSize() != (long) k * n) {
            throw new IllegalArgumentException("int8 weight has " + q.byteSize() + " bytes, expected " + (long) k * n);
        }
        if (scales.byteSize() != 2L * groups * n) {
            throw new IllegalArgumentException("scales have " + scales.byteSize() + " bytes, expected " + 2L * groups * n);
        }
    }

    /** A view whose rows are {@code stride} elements apart in {@code q} and {@code scales} (see {@link #columns}). */
    private Int8GroupedMatrix(MemorySegment q, MemorySegment scales, int k, int n, int groups, long stride) {
        if (groups < 1 || k % groups != 0) {
            throw new IllegalArgumentException("input dim " + k + " is not a multiple of " + groups + " scale groups");
        }
        if (q.byteSize() < (k - 1) * stride + n || scales.byteSize() < 2L * ((groups - 1) * stride + n)) {
            throw new IllegalArgumentException("a " + k + " x " + n + " int8 view with rows " + stride + " apart does not fit its segments");
        }
        this.q = q;
        this.scales = scales;
        this.k = k;
        this.n = n;
        this.groups = groups;
        this.groupRows = k / groups;
        this.stride = stride;
    }

    @Override public int inputDim() { return k; }
    @Override public int outputDim() { return n; }
    @Override public int columnAlignment() { return 64; }
    @Override public long storedBytes() { return (long) k * n + 2L * groups * n; }
    @Override public String typeName() { return "int8 x bf16 scales (" + groups + (groups == 1 ? " group)" : " groups)"); }

    /**
     * Halves of the input rows: possible when {@code K} is even and the cut falls on a scale-group boundary (an even
     * number of groups), or within the only group (both halves then share its scales).
     */
    @Override
    public WeightMatrix[] inputHalves() {
        if (k % 2 != 0 || (groups > 1 && groups % 2 != 0)) {
            return null;
        }
        if (stride != n) {
            return null; // a column slice: its products are split by columns already
        }
        long halfBytes = (long) (k / 2) * n;
        if (groups == 1) {
            return new WeightMatrix[] {
                new Int8GroupedMatrix(q.asSlice(0, halfBytes), scales, k / 2, n, 1),
                new Int8GroupedMatrix(q.asSlice(halfBytes, halfBytes), scales, k / 2, n, 1)};
        }
        long halfScales = 2L * (groups / 2) * n;
        return new WeightMatrix[] {
            new Int8GroupedMatrix(q.asSlice(0, halfBytes), scales.asSlice(0, halfScales), k / 2, n, groups / 2),
            new Int8GroupedMatrix(q.asSlice(halfBytes, halfBytes), scales.asSlice(halfScales, halfScales), k / 2, n, groups / 2)};
    }

    /**
     * Output columns {@code [from, to)}: a view whose rows keep this matrix's stride (each rank of a tensor-parallel
     * job reads only its own runs of every row, spec distributed.md §2.2). Scales are per column, so any cut is exact.
     */
    @Override
    public WeightMatrix columns(int from, int to) {
        WeightMatrix.checkRange("columns", from, to, n);
        int w = to - from;
        return new Int8GroupedMatrix(q.asSlice(from, (k - 1) * stride + w),
                scales.asSlice(2L * from, 2L * ((groups - 1) * stride + w)), k, w, groups, stride);
    }

    /**
     * Input rows {@code [from, to)}. Where the cut falls on scale-group boundaries this is one view; where it cuts a
     * group, every row keeps its own group's scale: the rows become up to three views (the partial group at each end
     * as a one-group matrix, the whole groups between) whose products are added ({@link StackedRows}).
     */
    @Override
    public WeightMatrix rows(int from, int to) {
        WeightMatrix.checkRange("rows", from, to, k);
        if (from % groupRows == 0 && to % groupRows == 0) {
            return rowView(from, to, from / groupRows, (to - from) / groupRows);
        }
        java.util.List<WeightMatrix> parts = new java.util.ArrayList<>();
        int r = from;
        while (r < to) {
            int g = r / groupRows;
            if (r % groupRows != 0 || to < (g + 1) * groupRows) {
                int end = Math.min(to, (g + 1) * groupRows); // part of one group
                parts.add(rowView(r, end, g, 1));
                r = end;
            } else {
                int end = to / groupRows * groupRows; // whole groups
                parts.add(rowView(r, end, g, (end - r) / groupRows));
                r = end;
            }
        }
        return parts.size() == 1 ? parts.getFirst() : new StackedRows(parts);
    }

    /** Rows {@code [from, to)} with scale groups {@code [g0, g0 + count)} spread evenly over them. */
    private Int8GroupedMatrix rowView(int from, int to, int g0, int count) {
        return new Int8GroupedMatrix(q.asSlice(from * stride, (to - from - 1) * stride + n),
                scales.asSlice(2L * g0 * stride, 2L * ((count - 1) * stride + n)), to - from, n, count, stride);
    }

    /** Number of scale groups along the input axis (each covers {@code inputDim() / groups()} input rows). */
    public int groups() {
        return groups;
    }

    /** Scale of group {@code g}, column {@code col}. */
    public float scale(int g, int col) {
        return BFloat16.toFloat(scales.get(BF16, 2L * (g * stride + col)));
    }

    /** Input row {@code r} of the stored int8 weights: {@code N} bytes, a view (e.g. to write the checkpoint out). */
    public MemorySegment weightRow(int r) {
        WeightMatrix.checkRange("row", r, r + 1, k);
        return q.asSlice(r * stride, n);
    }

    /** The bf16 scales of group {@code g}: {@code N} little-endian values ({@code 2N} bytes), a view. */
    public MemorySegment scaleRow(int g) {
        WeightMatrix.checkRange("group", g, g + 1, groups);
        return scales.asSlice(2L * g * stride, 2L * n);
    }

    /** The dequantized weight {@code W[row][col]} (exact float32). */
    public float get(int row, int col) {
        return q.get(ValueLayout.JAVA_BYTE, row * stride + col) * scale(row / groupRows, col);
    }

    /**
     * Output columns {@code [c0, c0 + count)} as rows of the transposed weight:
     * {@code out[off + j * K + r] = W[r][c0 + j]} (exact float32, as {@link #get}), e.g. for GGUF's row-per-output
     * layout. The int8 rows are read contiguously, {@value #TRANSPOSE_ROWS} at a time, and dequantized into a small
     * block that is then written out a cache line (16 floats) per output row at a time. Thread-safe.
     *
     * @throws IndexOutOfBoundsException if the columns are not within {@code [0, N)}
     */
    public void columnsAsRows(int c0, int count, float[] out, int off) {
        WeightMatrix.checkRange("columns", c0, c0 + count, n);
        float[] block = new float[TRANSPOSE_ROWS * count];
        byte[] qs = new byte[count];
        float[] s = new float[count];
        int group = -1;
        for (int r0 = 0; r0 < k; r0 += TRANSPOSE_ROWS) {
            int rows = Math.min(TRANSPOSE_ROWS, k - r0);
            for (int i = 0; i < rows; i++) {
                int r = r0 + i;
                if (r / groupRows != group) {
                    group = r / groupRows;
                    for (int j = 0; j < count; j++) {
                        s[j] = scale(group, c0 + j);
                    }
                }
                MemorySegment.copy(q, ValueLayout.JAVA_BYTE, r * stride + c0, qs, 0, count);
                for (int j = 0; j < count; j++) {
                    block[i * count + j] = qs[j] * s[j];
                }
            }
            for (int j = 0; j < count; j++) {
                int o = off + j * k + r0;
                for (int i = 0; i < rows; i++) {
                    out[o + i] = block[i * count + j];
                }
            }
        }
    }

    /** Input rows per block of {@link #columnsAsRows}: one cache line of floats per output row. */
    private static final int TRANSPOSE_ROWS = 16;

    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        if (n0 >= n1 || tokens <= 0) {
            return;
        }
        if (tokens >= GEMM_MIN_TOKENS) {
            Int8PanelGemm.multiply(q, scales, k, n, stride, groupRows, x, tokens, y, n0, n1);
            return;
        }
        float[] scratch = SCRATCH.get();
        if (tokens > 1) {
            matvecMulti(x, tokens, y, n0, n1, MULTI_SCRATCH.get(), scratch);
            return;
        }
        matvec(x, 0, y, 0, n0, n1, scratch);
    }

    /** Always {@link Int8PanelGemm}: its per-token sums do not depend on the token count. */
    @Override
    public void multiplyBatch(float[] x, int tokens, float[] y, int n0, int n1) {
        if (n0 < n1 && tokens > 0) {
            Int8PanelGemm.multiply(q, scales, k, n, stride, groupRows, x, tokens, y, n0, n1);
        }
    }

    /**
     * One token: {@code y[yOff + c] = sum_g s[g][c] * sum_{r in g} x[xOff + r] * q[r][c]} for {@code c in [n0, n1)}.
     * {@code acc} is at least {@link #TILE} floats.
     *
     * <p>The columns are taken {@link #BLOCK} at a time: one int-vector load per row brings {@code 4 * L} weights,
     * and shifts move byte {@code p} of every int lane to the lane's top byte, so the lane holds {@code q * 2^24}
     * exactly and converts to float exactly ({@code vcvtdq2ps}). That costs fewer instructions per weight than
     * widening each 8-byte slice with {@code vpmovsxbd} (measured here: +26 % in L2, +13 % from DRAM, 1 thread), and
     * the accumulator is {@code 2^24} times the plain sum, exactly (power-of-two scaling commutes with rounding), so
     * the results are bit for bit those of a widening kernel summing in the same order. Accumulator vector {@code p}
     * of a block holds columns {@code 4i + p}; {@link #scaleInto} restores the order and folds the {@code 2^-24}
     * into the scale.
     */
    void matvec(float[] x, int xOff, float[] y, int yOff, int n0, int n1, float[] acc) {
        final long rowBytes = stride;
        for (int c0 = n0; c0 < n1; c0 += TILE) {
            final int w = Math.min(TILE, n1 - c0);
            final int wb = w - w % BLOCK;
            for (int g = 0; g < groups; g++) {
                java.util.Arrays.fill(acc, 0, w, 0f);
                final int rEnd = (g + 1) * groupRows;
                // four rows per pass, one from each quarter of the group: each of the four streams then runs on
                // through consecutive rows (one long sequential read per quarter) instead of ending after one row,
                // which the hardware prefetchers follow better. Measured with 2 threads, both experts' down projections
                // (32768 x 6144) as one list, against the bandwidth probe in the same run: 0.58-0.65 -> 0.80-0.87
                final int quarter = groupRows / 4;
                final long stride = quarter * rowBytes;
                final int g0 = g * groupRows;
                for (int r = g0; r < g0 + quarter; r++) {
                    final long o0 = r * rowBytes + c0;
                    final float s0 = x[xOff + r], s1 = x[xOff + r + quarter];
                    final float s2 = x[xOff + r + 2 * quarter], s3 = x[xOff + r + 3 * quarter];
                    accumulate4(q, o0, stride, s0, s1, s2, s3, acc, wb);
                    tail4(q, o0, stride, s0, s1, s2, s3, acc, wb, w);
                }
                for (int r = g0 + 4 * quarter; r < rEnd; r++) {
                    accumulate1(q, r * rowBytes + c0, x[xOff + r], acc, wb, w);
                }
                scaleInto(acc, w, wb, 2L * (g * this.stride + c0), y, yOff + c0, g == 0);
            }
        }
    }

    /**
     * {@code acc[perm(j)] += 2^24 * sum_i x_i * q[row_i][j]} over the four rows starting at byte {@code o0},
     * {@code rowBytes} bytes apart, for the first {@code wb} columns (a multiple of {@link #BLOCK}); see {@link #matvec}
     * for the permuted order. A separate small method: compiled inside the large {@code matvec}, C2 ran out of
     * registers for it and reloaded the byte mask from memory on every use.
     */
    private static void accumulate4(MemorySegment q, long o0, long rowBytes, float s0, float s1, float s2, float s3,
                                    float[] acc, int wb) {
        final FloatVector x0 = FloatVector.broadcast(F, s0);
        final FloatVector x1 = FloatVector.broadcast(F, s1);
        final FloatVector x2 = FloatVector.broadcast(F, s2);
        final FloatVector x3 = FloatVector.broadcast(F, s3);
        final long o1 = o0 + rowBytes;
        final long o2 = o1 + rowBytes;
        final long o3 = o2 + rowBytes;
        // byte p of every int lane shifted to the lane's top byte and converted: q * 2^24, exact (written out: as
        // helper methods C2 did not inline them into this loop and it ran 8x slower)
        for (int j = 0; j < wb; j += BLOCK) {
            FloatVector a0 = FloatVector.fromArray(F, acc, j);
            FloatVector a1 = FloatVector.fromArray(F, acc, j + L);
            FloatVector a2 = FloatVector.fromArray(F, acc, j + 2 * L);
            FloatVector a3 = FloatVector.fromArray(F, acc, j + 3 * L);
            IntVector v = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            a0 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0)).fma(x0, a0);
            a1 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x0, a1);
            a2 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x0, a2);
            a3 = ((FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x0, a3);
            v = IntVector.fromMemorySegment(I, q, o1 + j, LE);
            a0 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0)).fma(x1, a0);
            a1 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x1, a1);
            a2 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x1, a2);
            a3 = ((FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x1, a3);
            v = IntVector.fromMemorySegment(I, q, o2 + j, LE);
            a0 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0)).fma(x2, a0);
            a1 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x2, a1);
            a2 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x2, a2);
            a3 = ((FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x2, a3);
            v = IntVector.fromMemorySegment(I, q, o3 + j, LE);
            a0 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0)).fma(x3, a0);
            a1 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x3, a1);
            a2 = ((FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x3, a2);
            a3 = ((FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x3, a3);
            a0.intoArray(acc, j);
            a1.intoArray(acc, j + L);
            a2.intoArray(acc, j + 2 * L);
            a3.intoArray(acc, j + 3 * L);
        }
    }

    /**
     * 2 to 5 tokens ({@code tokens < GEMM_MIN_TOKENS}), reading each weight from memory once for all of them, with
     * every token's output <b>bit for bit</b> what {@link #matvec} gives for that token alone: each column's sum is
     * formed by the same operations in the same order. Per column tile and scale group: {@link #matvec}'s passes of
     * four rows (one per quarter of the group), each pass converting the weights exactly as {@link #accumulate4}
     * ({@code q * 2^24}, block-permuted) and adding them to every token's accumulator with one FMA chain per
     * accumulator vector in the same row order (kernels {@link #accumulate4x2}, {@link #accumulate4x3}; 4 tokens run
     * as 2 + 2, 5 as 3 + 2); then for each token, on its tile copied to {@code acc}: the tail columns of the passes
     * ({@link #tail4}), the group's leftover rows ({@link #accumulate1}) and {@link #scaleInto}, as in
     * {@link #matvec}. Splitting work between the kernels differently changes nothing: tokens never share an
     * accumulator.
     *
     * <p>Measured (AVX2, 2 threads, {@code Kernels.matmul} of one matrix, medians of 21 calls per case, alternating
     * with one {@link #matvec} per token in the same run, two runs), time per call relative to one token's matvec:
     * <pre>
     * tokens                          1     2          3          4          5
     * 6144 x 32768, 1 group   this   1.0   1.08-1.13  1.48-1.60  1.84-1.92  2.22-2.43
     *                         before 1.0   2.0-2.1    2.9-3.0    3.9-4.2    4.9-5.2
     * 32768 x 6144, 8 groups  this   1.0   1.09-1.10  1.41-1.45  1.67-1.75  2.05-2.07
     *                         before 1.0   1.8-2.0    3.0        3.9-4.1    4.8-5.1
     * </pre>
     * One token is memory-bound with its compute about half the read time, so a second token is nearly free; from
     * three on the conversions and FMAs (compute) set the time. Tried and slower (2 tokens, first shape): all
     * accumulators of a block in registers, {@code float[]} tiles (C2 converted all rows first and spilled: 1.5),
     * converting the rows once into a float buffer in L1 and running a float kernel per token (converting with its
     * 16 stores per 128 weights cost as much as a one-token pass), a loop over the four byte positions inside the
     * block loop (not unrolled, variable shifts: 1.4-1.55), the byte positions as separate sweeps over the columns,
     * in halves or chunks (1.5-2.3); column tiles of 8192 or 16384 were no better.
     *
     * <p>{@code acc} is at least {@link #TILE} floats; {@code accs} holds {@code tokens} tiles of
     * {@link #MULTI_STRIDE} floats, off-heap.
     */
    void matvecMulti(float[] x, int tokens, float[] y, int n0, int n1, MemorySegment accs, float[] acc) {
        final long rowBytes = stride;
        final long ts = 4L * MULTI_STRIDE;
        for (int c0 = n0; c0 < n1; c0 += TILE) {
            final int w = Math.min(TILE, n1 - c0);
            final int wb = w - w % BLOCK;
            for (int g = 0; g < groups; g++) {
                final int rEnd = (g + 1) * groupRows;
                final int quarter = groupRows / 4;
                final long stride = quarter * rowBytes;
                final int g0 = g * groupRows;
                zero(accs, tokens, ts, wb);
                for (int r = g0; r < g0 + quarter; r++) {
                    final long o0 = r * rowBytes + c0;
                    int t = 0;
                    if (tokens % 2 == 1) {
                        accumulate4x3(q, o0, stride, x, r, quarter, k, accs, 0, ts, wb);
                        t = 3;
                    }
                    for (; t < tokens; t += 2) {
                        accumulate4x2(q, o0, stride, x, t * k + r, quarter, k, accs, t * ts, ts, wb);
                    }
                }
                for (int t = 0; t < tokens; t++) {
                    MemorySegment.copy(accs, F32, t * ts, acc, 0, wb);
                    java.util.Arrays.fill(acc, wb, w, 0f);
                    final int xOff = t * k;
                    if (wb < w) {
                        for (int r = g0; r < g0 + quarter; r++) {
                            tail4(q, r * rowBytes + c0, stride, x[xOff + r], x[xOff + r + quarter],
                                    x[xOff + r + 2 * quarter], x[xOff + r + 3 * quarter], acc, wb, w);
                        }
                    }
                    for (int r = g0 + 4 * quarter; r < rEnd; r++) {
                        accumulate1(q, r * rowBytes + c0, x[xOff + r], acc, wb, w);
                    }
                    scaleInto(acc, w, wb, 2L * (g * this.stride + c0), y, t * n + c0, g == 0);
                }
            }
        }
    }

    /** Zeroes the first {@code wb} floats of each of {@code tokens} accumulator tiles, {@code ts} bytes apart. */
    private static void zero(MemorySegment accs, int tokens, long ts, int wb) {
        final FloatVector z = FloatVector.zero(F);
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < wb; j += L) {
                z.intoMemorySegment(accs, t * ts + 4L * j, LE);
            }
        }
    }

    /**
     * Two tokens, one pass of four rows ({@code o0} and {@code rowBytes} as in {@link #accumulate4}) over the
     * {@code wb} block columns: the token {@code t} accumulator vector at byte {@code a0 + t * ts + 4 (j + p L)} gets
     * {@code sum_i 2^24 x[xr + t k + i quarter] q[row_i][4 m + p]} (lane {@code m} of block {@code j}), one FMA chain
     * over the rows in order, as {@link #accumulate4} forms it for one token.
     *
     * <p>Written as four sections, one per byte position {@code p}: convert that byte of the four rows, then the
     * FMA chain of each token. The accumulators are off-heap, like the weights, so each section's weight loads cannot
     * move above the previous section's accumulator stores (C2 treats all off-heap accesses as one memory): that
     * keeps C2 from computing all sixteen conversions first and spilling them, which it did with the accumulators in
     * a {@code float[]}. The four loads of a row per block hit L1. The eight broadcast activations stay in registers
     * (checked in C2's output: the loop is 96 instructions per block, no spills, no range checks). Three or more
     * tokens in this form exceed C1's limits (see {@link #accumulate4x3}).
     */
    private static void accumulate4x2(MemorySegment q, long o0, long rowBytes, float[] x, int xr, int quarter,
                                      int k, MemorySegment acc, long a0, long ts, int wb) {
        final long o1 = o0 + rowBytes;
        final long o2 = o1 + rowBytes;
        final long o3 = o2 + rowBytes;
        final FloatVector x00 = FloatVector.broadcast(F, x[xr]);
        final FloatVector x01 = FloatVector.broadcast(F, x[xr + quarter]);
        final FloatVector x02 = FloatVector.broadcast(F, x[xr + 2 * quarter]);
        final FloatVector x03 = FloatVector.broadcast(F, x[xr + 3 * quarter]);
        final FloatVector x10 = FloatVector.broadcast(F, x[xr + k]);
        final FloatVector x11 = FloatVector.broadcast(F, x[xr + k + quarter]);
        final FloatVector x12 = FloatVector.broadcast(F, x[xr + k + 2 * quarter]);
        final FloatVector x13 = FloatVector.broadcast(F, x[xr + k + 3 * quarter]);
        for (int j = 0; j < wb; j += BLOCK) {
            final long aj = a0 + 4L * j;
            IntVector v;
            FloatVector c0, c1, c2, c3, a;
            // byte 0 of each int lane: accumulator vector 0 of the block, of every token
            v = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            c0 = (FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o1 + j, LE);
            c1 = (FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o2 + j, LE);
            c2 = (FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o3 + j, LE);
            c3 = (FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj, LE);
            // byte 1 of each int lane: accumulator vector 1 of the block, of every token
            v = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            c0 = (FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o1 + j, LE);
            c1 = (FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o2 + j, LE);
            c2 = (FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o3 + j, LE);
            c3 = (FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj + 4 * L, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj + 4 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj + 4 * L, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj + 4 * L, LE);
            // byte 2 of each int lane: accumulator vector 2 of the block, of every token
            v = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            c0 = (FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o1 + j, LE);
            c1 = (FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o2 + j, LE);
            c2 = (FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o3 + j, LE);
            c3 = (FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj + 8 * L, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj + 8 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj + 8 * L, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj + 8 * L, LE);
            // byte 3 of each int lane: accumulator vector 3 of the block, of every token
            v = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            c0 = (FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o1 + j, LE);
            c1 = (FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o2 + j, LE);
            c2 = (FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v = IntVector.fromMemorySegment(I, q, o3 + j, LE);
            c3 = (FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj + 12 * L, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj + 12 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj + 12 * L, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj + 12 * L, LE);
        }
    }

    /**
     * {@link #accumulate4x2} for three tokens, with the weights loaded in sections 0 and 2 only (kept in registers
     * for sections 1 and 3; some of the twelve broadcasts are reloaded from the stack). Reloading in every section,
     * as {@link #accumulate4x2} does, makes the method too large
     * for C1 ("out of virtual registers in linear scan"). After such a failure HotSpot sometimes keeps the method in
     * C1 code without profiling (tier 2) and never compiles it with C2: a two-token kernel written that way stayed
     * 20-40x slower for the 17 s of a test (JDK 25, 1024 x 256). Four or five tokens in one method fail the same way,
     * hence 4 = 2 + 2 and 5 = 3 + 2.
     */
    private static void accumulate4x3(MemorySegment q, long o0, long rowBytes, float[] x, int xr, int quarter,
                                      int k, MemorySegment acc, long a0, long ts, int wb) {
        final long o1 = o0 + rowBytes;
        final long o2 = o1 + rowBytes;
        final long o3 = o2 + rowBytes;
        final FloatVector x00 = FloatVector.broadcast(F, x[xr]);
        final FloatVector x01 = FloatVector.broadcast(F, x[xr + quarter]);
        final FloatVector x02 = FloatVector.broadcast(F, x[xr + 2 * quarter]);
        final FloatVector x03 = FloatVector.broadcast(F, x[xr + 3 * quarter]);
        final FloatVector x10 = FloatVector.broadcast(F, x[xr + k]);
        final FloatVector x11 = FloatVector.broadcast(F, x[xr + k + quarter]);
        final FloatVector x12 = FloatVector.broadcast(F, x[xr + k + 2 * quarter]);
        final FloatVector x13 = FloatVector.broadcast(F, x[xr + k + 3 * quarter]);
        final FloatVector x20 = FloatVector.broadcast(F, x[xr + 2 * k]);
        final FloatVector x21 = FloatVector.broadcast(F, x[xr + 2 * k + quarter]);
        final FloatVector x22 = FloatVector.broadcast(F, x[xr + 2 * k + 2 * quarter]);
        final FloatVector x23 = FloatVector.broadcast(F, x[xr + 2 * k + 3 * quarter]);
        for (int j = 0; j < wb; j += BLOCK) {
            final long aj = a0 + 4L * j;
            IntVector v0, v1, v2, v3;
            FloatVector c0, c1, c2, c3, a;
            // byte 0 of each int lane: accumulator vector 0 of the block, of every token
            v0 = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            c0 = (FloatVector) v0.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            v1 = IntVector.fromMemorySegment(I, q, o1 + j, LE);
            c1 = (FloatVector) v1.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            v2 = IntVector.fromMemorySegment(I, q, o2 + j, LE);
            c2 = (FloatVector) v2.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            v3 = IntVector.fromMemorySegment(I, q, o3 + j, LE);
            c3 = (FloatVector) v3.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj, LE);
            a = FloatVector.fromMemorySegment(F, acc, 2 * ts + aj, LE);
            a = c3.fma(x23, c2.fma(x22, c1.fma(x21, c0.fma(x20, a))));
            a.intoMemorySegment(acc, 2 * ts + aj, LE);
            // byte 1 of each int lane: accumulator vector 1 of the block, of every token
            c0 = (FloatVector) v0.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            c1 = (FloatVector) v1.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            c2 = (FloatVector) v2.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            c3 = (FloatVector) v3.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj + 4 * L, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj + 4 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj + 4 * L, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj + 4 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, 2 * ts + aj + 4 * L, LE);
            a = c3.fma(x23, c2.fma(x22, c1.fma(x21, c0.fma(x20, a))));
            a.intoMemorySegment(acc, 2 * ts + aj + 4 * L, LE);
            // byte 2 of each int lane: accumulator vector 2 of the block, of every token
            v0 = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            c0 = (FloatVector) v0.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v1 = IntVector.fromMemorySegment(I, q, o1 + j, LE);
            c1 = (FloatVector) v1.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v2 = IntVector.fromMemorySegment(I, q, o2 + j, LE);
            c2 = (FloatVector) v2.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            v3 = IntVector.fromMemorySegment(I, q, o3 + j, LE);
            c3 = (FloatVector) v3.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj + 8 * L, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj + 8 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj + 8 * L, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj + 8 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, 2 * ts + aj + 8 * L, LE);
            a = c3.fma(x23, c2.fma(x22, c1.fma(x21, c0.fma(x20, a))));
            a.intoMemorySegment(acc, 2 * ts + aj + 8 * L, LE);
            // byte 3 of each int lane: accumulator vector 3 of the block, of every token
            c0 = (FloatVector) v0.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            c1 = (FloatVector) v1.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            c2 = (FloatVector) v2.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            c3 = (FloatVector) v3.and(TOP_BYTE).convert(VectorOperators.I2F, 0);
            a = FloatVector.fromMemorySegment(F, acc, aj + 12 * L, LE);
            a = c3.fma(x03, c2.fma(x02, c1.fma(x01, c0.fma(x00, a))));
            a.intoMemorySegment(acc, aj + 12 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, ts + aj + 12 * L, LE);
            a = c3.fma(x13, c2.fma(x12, c1.fma(x11, c0.fma(x10, a))));
            a.intoMemorySegment(acc, ts + aj + 12 * L, LE);
            a = FloatVector.fromMemorySegment(F, acc, 2 * ts + aj + 12 * L, LE);
            a = c3.fma(x23, c2.fma(x22, c1.fma(x21, c0.fma(x20, a))));
            a.intoMemorySegment(acc, 2 * ts + aj + 12 * L, LE);
        }
    }

    /**
     * The columns {@code [wb, w)} after the blocks (in order, not permuted) of {@link #accumulate4}'s four rows:
     * {@code acc[j] += s0 * q0[j] + s1 * q1[j] + s2 * q2[j] + s3 * q3[j]}.
     */
    private static void tail4(MemorySegment q, long o0, long stride, float s0, float s1, float s2, float s3,
                              float[] acc, int wb, int w) {
        for (int j = wb; j < w; j++) {
            acc[j] += s0 * q.get(ValueLayout.JAVA_BYTE, o0 + j) + s1 * q.get(ValueLayout.JAVA_BYTE, o0 + stride + j)
                    + s2 * q.get(ValueLayout.JAVA_BYTE, o0 + 2 * stride + j)
                    + s3 * q.get(ValueLayout.JAVA_BYTE, o0 + 3 * stride + j);
        }
    }

    /**
     * One row at byte {@code o0} (a scale group's rows after its quarters): {@code acc[perm(j)] += 2^24 * s * q[j]}
     * for the {@code wb} block columns (as in {@link #accumulate4}), then {@code acc[j] += s * q[j]} up to {@code w}.
     */
    private static void accumulate1(MemorySegment q, long o0, float s, float[] acc, int wb, int w) {
        final FloatVector x0 = FloatVector.broadcast(F, s);
        for (int j = 0; j < wb; j += BLOCK) {
            final IntVector v = IntVector.fromMemorySegment(I, q, o0 + j, LE);
            ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).convert(VectorOperators.I2F, 0)).fma(x0, FloatVector.fromArray(F, acc, j)).intoArray(acc, j);
            ((FloatVector) v.lanewise(VectorOperators.LSHL, 16).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x0, FloatVector.fromArray(F, acc, j + L)).intoArray(acc, j + L);
            ((FloatVector) v.lanewise(VectorOperators.LSHL, 8).and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x0, FloatVector.fromArray(F, acc, j + 2 * L)).intoArray(acc, j + 2 * L);
            ((FloatVector) v.and(TOP_BYTE).convert(VectorOperators.I2F, 0)).fma(x0, FloatVector.fromArray(F, acc, j + 3 * L)).intoArray(acc, j + 3 * L);
        }
        for (int j = wb; j < w; j++) {
            acc[j] += s * q.get(ValueLayout.JAVA_BYTE, o0 + j);
        }
    }

    /**
     * {@code y[yo + j] (+)= acc[j] * s[j]} for {@code j < w}, with the bf16 scales at byte {@code so}; the first
     * {@code wb} columns come from {@link #matvec}'s blocks (permuted, times {@code 2^24}), the rest in order. The
     * scales are first copied to a short array: the same loop reading the segment directly made C2 hit a
     * loop-predicate trap and recompile the whole kernel over and over (running it in C1 code meanwhile). The loop
     * is scalar: it touches each column once per group, against thousands of weight bytes per column.
     */
    private void scaleInto(float[] acc, int w, int wb, long so, float[] y, int yo, boolean first) {
        final short[] sc = SCALES.get();
        MemorySegment.copy(scales, BF16, so, sc, 0, w);
        for (int j = 0; j < wb; j += BLOCK) {
            for (int p = 0; p < 4; p++) {
                for (int i = 0; i < L; i++) {
                    final int col = j + 4 * i + p;
                    final float a = acc[j + p * L + i];
                    final float s = BFloat16.toFloat(sc[col]) * 0x1p-24f;
                    y[yo + col] = first ? a * s : Math.fma(a, s, y[yo + col]);
                }
            }
        }
        for (int j = wb; j < w; j++) {
            final float s = BFloat16.toFloat(sc[j]);
            y[yo + j] = first ? acc[j] * s : Math.fma(acc[j], s, y[yo + j]);
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
                        acc += (double) x[t * k + r] * q.get(ValueLayout.JAVA_BYTE, r * stride + c);
                    }
                    total += acc * scale(g, c);
                }
                y[t * n + c] = (float) total;
            }
        }
    }
}
