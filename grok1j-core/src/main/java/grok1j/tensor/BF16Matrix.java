package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A bf16 weight stored as PyTorch stores a linear layer: {@code [out, in]} row-major, little-endian, one contiguous
 * row of K = {@code in} values per output (Grok-2's safetensors, grok-2 spec §3). As a {@link WeightMatrix} it is
 * the {@code [K, N]} matrix {@code W = stored^T}: {@code y = x @ W}, i.e. {@code y[t][c] = sum_k x[t][k] * stored[c][k]}.
 * Each weight is widened exactly ({@code bits << 16}); accumulation is float32.
 *
 * <p>The matrix may be composed of R equal views without copying (a tensor-parallel split, spec §3.2): rows stacked
 * in part order ({@link #stackedRows}: an expert's {@code w1}/{@code w3}, rank K holding rows {@code [K s, (K+1) s)})
 * or columns joined in part order ({@link #joinedColumns}: {@code w2}, rank K holding input columns
 * {@code [K s, (K+1) s)}). {@link #columns} and {@link #rows} cut views for tensor parallelism; a column cut (of stored
 * columns) keeps the stored row stride. A joined-columns product is the sum over parts of each part's product, part by part, so
 * each part's rows are read as one sequential stream (the all-reduce of tensor parallelism written as a loop).
 *
 * <p>Decode (1 token): one pass over each row with {@link BF16Kernels#dot1}. Several tokens: two rows at a time
 * against four tokens ({@link BF16Kernels#dot2x4}), each row read from memory once for all tokens; from
 * {@link #BLOCK_TOKENS} tokens on, the input dimension is cut into blocks of {@link #KB} so a block of every
 * token's activations stays in L2 while all rows pass by (the prefill GEMM). Scratch is per thread.
 */
public final class BF16Matrix implements WeightMatrix {
    /** From this many tokens on, the input dimension is blocked (prefill). */
    static final int BLOCK_TOKENS = 8;
    /** Input block length for prefill: 64 tokens' activations = 256 KB of floats (L2). Even. */
    static final int KB = 1024;

    /**
     * One stored piece: {@code rows} rows of {@code cols} bf16 values, row {@code r} starting at byte {@code r * stride}
     * of {@code data} (a column view has a stride longer than its rows).
     */
    private record Part(MemorySegment data, long stride, int rows, int cols) {
        Part {
            if (rows <= 0 || cols <= 0 || stride < 2L * cols
                    || data.byteSize() < (rows - 1) * stride + 2L * cols) {
                throw new IllegalArgumentException("bf16 part [" + rows + ", " + cols + "] with row stride " + stride
                        + " bytes does not fit its " + data.byteSize() + " bytes");
            }
        }

        /** Rows {@code [from, to)} and columns {@code [c0, c1)} of this part. */
        Part cut(int from, int to, int c0, int c1) {
            long at = from * stride + 2L * c0;
            return new Part(data.asSlice(at, (to - from - 1) * stride + 2L * (c1 - c0)), stride, to - from, c1 - c0);
        }
    }

    private final Part[] parts;
    /** Stacked: the first output row of each part; joined: the first input column; then the total. */
    private final int[] starts;
    private final int out;
    private final int in;
    private final boolean joinedColumns;

    private BF16Matrix(Part[] parts, boolean joinedColumns) {
        if (parts.length == 0) {
            throw new IllegalArgumentException("bf16 matrix without parts");
        }
        this.parts = parts;
        this.joinedColumns = joinedColumns && parts.length > 1;
        this.starts = new int[parts.length + 1];
        for (int p = 0; p < parts.length; p++) {
            Part q = parts[p];
            if (this.joinedColumns ? q.rows != parts[0].rows : q.cols != parts[0].cols) {
                throw new IllegalArgumentException("bf16 parts [" + q.rows + ", " + q.cols + "] and [" + parts[0].rows
                        + ", " + parts[0].cols + "] cannot be " + (this.joinedColumns ? "joined" : "stacked"));
            }
            starts[p + 1] = Math.addExact(starts[p], this.joinedColumns ? q.cols : q.rows);
        }
        this.out = this.joinedColumns ? parts[0].rows : starts[parts.length];
        this.in = this.joinedColumns ? starts[parts.length] : parts[0].cols;
    }

    /** Equal parts of {@code [rows, cols]}, packed. */
    private static Part[] packed(List<MemorySegment> parts, int rows, int cols) {
        Part[] out = new Part[parts.size()];
        for (int i = 0; i < out.length; i++) {
            MemorySegment p = parts.get(i);
            if (rows <= 0 || cols <= 0) {
                throw new IllegalArgumentException("bf16 matrix [" + rows + ", " + cols + "] must not be empty");
            }
            if (p.byteSize() != 2L * rows * cols) {
                throw new IllegalArgumentException("bf16 part has " + p.byteSize() + " bytes, expected [" + rows
                        + ", " + cols + "] = " + 2L * rows * cols);
            }
            out[i] = new Part(p, 2L * cols, rows, cols);
        }
        return out;
    }

    /**
     * @param data {@code [out, in]} bf16, {@code 2 * out * in} bytes
     * @throws IllegalArgumentException if the size disagrees
     */
    public static BF16Matrix of(MemorySegment data, int out, int in) {
        return new BF16Matrix(packed(List.of(data), out, in), false);
    }

    /**
     * Rows stacked in part order (dim 0): part {@code p} is {@code [rowsPerPart, in]} and holds output rows
     * {@code [p * rowsPerPart, (p + 1) * rowsPerPart)}.
     */
    public static BF16Matrix stackedRows(List<MemorySegment> parts, int rowsPerPart, int in) {
        return new BF16Matrix(packed(parts, rowsPerPart, in), false);
    }

    /**
     * Columns joined in part order (dim 1): part {@code p} is {@code [out, colsPerPart]} and holds input columns
     * {@code [p * colsPerPart, (p + 1) * colsPerPart)}.
     */
    public static BF16Matrix joinedColumns(List<MemorySegment> parts, int out, int colsPerPart) {
        return new BF16Matrix(packed(parts, out, colsPerPart), true);
    }

    @Override public int inputDim() { return in; }
    @Override public int outputDim() { return out; }
    @Override public long storedBytes() { return 2L * in * out; }
    @Override public String typeName() { return parts.length == 1 ? "bf16" : "bf16 x " + parts.length + " slices"; }

    /**
     * Output columns {@code [from, to)} (stored rows): a view over the same bytes. Of an expert's rank-stacked
     * {@code w1}, rank r of 8 gets exactly the rows of file {@code -TP-00r}; other cuts span parts.
     */
    @Override
    public WeightMatrix columns(int from, int to) {
        WeightMatrix.checkRange("columns", from, to, out);
        List<Part> cut = new ArrayList<>();
        for (int p = 0; p < parts.length; p++) {
            Part q = parts[p];
            if (joinedColumns) {
                cut.add(q.cut(from, to, 0, q.cols));
            } else {
                int lo = Math.max(from, starts[p]), hi = Math.min(to, starts[p + 1]);
                if (lo < hi) {
                    cut.add(q.cut(lo - starts[p], hi - starts[p], 0, q.cols));
                }
            }
        }
        return new BF16Matrix(cut.toArray(Part[]::new), joinedColumns);
    }

    /**
     * Input rows {@code [from, to)} (stored columns): a view whose stored rows keep this matrix's stride. Of an
     * expert's rank-joined {@code w2}, rank r of 8 gets exactly the columns of file {@code -TP-00r}.
     */
    @Override
    public WeightMatrix rows(int from, int to) {
        WeightMatrix.checkRange("rows", from, to, in);
        List<Part> cut = new ArrayList<>();
        for (int p = 0; p < parts.length; p++) {
            Part q = parts[p];
            if (!joinedColumns) {
                cut.add(q.cut(0, q.rows, from, to));
            } else {
                int lo = Math.max(from, starts[p]), hi = Math.min(to, starts[p + 1]);
                if (lo < hi) {
                    cut.add(q.cut(0, q.rows, lo - starts[p], hi - starts[p]));
                }
            }
        }
        return new BF16Matrix(cut.toArray(Part[]::new), joinedColumns);
    }

    /** The part holding stored row {@code c} (stacked) or input column {@code k} (joined). */
    private int partOf(int index) {
        if (parts.length == 1) {
            return 0;
        }
        int i = Arrays.binarySearch(starts, 0, parts.length, index);
        if (i >= 0) {
            return i;
        }
        return -i - 2;
    }

    /** {@code W[k][c]} in the {@link WeightMatrix} orientation, i.e. stored element {@code [c, k]}. */
    public float get(int k, int c) {
        if (joinedColumns) {
            int p = partOf(k);
            return BF16Kernels.bf16(parts[p].data, c * parts[p].stride + 2L * (k - starts[p]));
        }
        int p = partOf(c);
        return BF16Kernels.bf16(parts[p].data, (c - starts[p]) * parts[p].stride + 2L * k);
    }

    /** Per-thread buffers: the split activations and the 2 x 4 tile's results. */
    private static final class Scratch {
        float[] even = new float[0];
        float[] odd = new float[0];
        final float[] tile = new float[8];

        void ensure(int floats) {
            if (even.length < floats) {
                even = new float[floats];
                odd = new float[floats];
            }
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    @Override
    public void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
        multiply(x, tokens, y, n0, n1, false);
    }

    /** Always the many-token kernel over blocks of {@link #KB}: the same per-token sums for any token count. */
    @Override
    public void multiplyBatch(float[] x, int tokens, float[] y, int n0, int n1) {
        multiply(x, tokens, y, n0, n1, true);
    }

    private void multiply(float[] x, int tokens, float[] y, int n0, int n1, boolean batch) {
        if (tokens <= 0 || n0 >= n1) {
            return;
        }
        Scratch s = SCRATCH.get();
        int inParts = joinedColumns ? parts.length : 1;
        boolean one = tokens == 1 && !batch;
        int padTo = one ? 1 : (tokens + 3) / 4 * 4;
        for (int ip = 0; ip < inParts; ip++) {
            int len = joinedColumns ? parts[ip].cols : in;
            int x0 = joinedColumns ? starts[ip] : 0; // where this part's input columns start in x
            int block = tokens < BLOCK_TOKENS && !batch ? len : KB;
            s.ensure(padTo * ((Math.min(block, len) + 1) / 2));
            for (int k0 = 0; k0 < len; k0 += block) {
                int kc = Math.min(block, len - k0);
                BF16Kernels.deinterleave(x, in, x0 + k0, kc, tokens, padTo, s.even, s.odd);
                boolean first = ip == 0 && k0 == 0;
                if (one) {
                    rowsOneToken(ip, k0, kc, s, y, n0, n1, first);
                } else {
                    rowsManyTokens(ip, k0, kc, tokens, padTo, s, y, n0, n1, first);
                }
            }
        }
    }

    private void rowsOneToken(int ip, int k0, int kc, Scratch s, float[] y, int n0, int n1, boolean first) {
        for (int c = n0; c < n1; c++) {
            int p = joinedColumns ? ip : partOf(c);
            float v = BF16Kernels.dot1(parts[p].data, offset(p, c) + 2L * k0, kc, s.even, s.odd, 0);
            y[c] = first ? v : y[c] + v;
        }
    }

    private void rowsManyTokens(int ip, int k0, int kc, int tokens, int padTo, Scratch s, float[] y, int n0, int n1,
                                boolean first) {
        int half = (kc + 1) / 2;
        float[] tile = s.tile;
        for (int c = n0; c < n1; c += 2) {
            int c1 = Math.min(c + 1, n1 - 1); // an odd last row is computed twice and written once
            int p0 = joinedColumns ? ip : partOf(c), p1 = joinedColumns ? ip : partOf(c1);
            long o0 = offset(p0, c) + 2L * k0, o1 = offset(p1, c1) + 2L * k0;
            for (int t0 = 0; t0 < padTo; t0 += 4) {
                BF16Kernels.dot2x4(parts[p0].data, o0, parts[p1].data, o1, kc, s.even, s.odd, t0 * half, half, tile);
                for (int r = 0; r < 4 && t0 + r < tokens; r++) {
                    int yo = (t0 + r) * out;
                    y[yo + c] = first ? tile[2 * r] : y[yo + c] + tile[2 * r];
                    if (c1 != c) {
                        y[yo + c1] = first ? tile[2 * r + 1] : y[yo + c1] + tile[2 * r + 1];
                    }
                }
            }
        }
    }

    /** Byte offset of stored row {@code c}'s first element within part {@code p}. */
    private long offset(int p, int c) {
        return joinedColumns ? c * parts[p].stride : (c - starts[p]) * parts[p].stride;
    }

    /**
     * Stored row {@code c} (output {@code c}: its {@code in} weights, i.e. column {@code c} of {@code W}) widened
     * exactly into {@code dst[off .. off + in)}; a joined-columns matrix gathers the row from its parts in order
     * (a converter reads a split expert this way, tensor by tensor, without merging the parts).
     */
    public void storedRow(int c, float[] dst, int off) {
        WeightMatrix.checkRange("row", c, c + 1, out);
        for (int p = 0; p < parts.length; p++) {
            Part q = parts[p];
            int row;
            if (joinedColumns) {
                row = c;
            } else if (c >= starts[p] && c < starts[p + 1]) {
                row = c - starts[p];
            } else {
                continue;
            }
            long base = row * q.stride;
            int at = off + (joinedColumns ? starts[p] : 0);
            for (int k = 0; k < q.cols; k++) {
                dst[at + k] = BF16Kernels.bf16(q.data, base + 2L * k);
            }
        }
    }

    /** Scalar reference of {@link #multiply} with double accumulation (tests, benchmarks). */
    public void multiplyScalar(float[] x, int tokens, float[] y, int n0, int n1) {
        for (int t = 0; t < tokens; t++) {
            for (int c = n0; c < n1; c++) {
                double acc = 0;
                for (int k = 0; k < in; k++) {
                    acc += (double) x[t * in + k] * get(k, c);
                }
                y[t * out + c] = (float) acc;
            }
        }
    }
}
