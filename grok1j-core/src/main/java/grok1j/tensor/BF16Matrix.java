package grok1j.tensor;

import java.lang.foreign.MemorySegment;
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
 * {@code [K s, (K+1) s)}). A joined-columns product is the sum over parts of each part's product, part by part, so
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

    private final MemorySegment[] parts;
    private final int out;
    private final int in;
    private final int partRows;
    private final int partCols;
    private final boolean joinedColumns;

    private BF16Matrix(MemorySegment[] parts, int out, int in, int partRows, int partCols, boolean joinedColumns) {
        for (MemorySegment p : parts) {
            if (p.byteSize() != 2L * partRows * partCols) {
                throw new IllegalArgumentException("bf16 part has " + p.byteSize() + " bytes, expected [" + partRows
                        + ", " + partCols + "] = " + 2L * partRows * partCols);
            }
        }
        if (out <= 0 || in <= 0) {
            throw new IllegalArgumentException("bf16 matrix [" + out + ", " + in + "] must not be empty");
        }
        this.parts = parts;
        this.out = out;
        this.in = in;
        this.partRows = partRows;
        this.partCols = partCols;
        this.joinedColumns = joinedColumns;
    }

    /**
     * @param data {@code [out, in]} bf16, {@code 2 * out * in} bytes
     * @throws IllegalArgumentException if the size disagrees
     */
    public static BF16Matrix of(MemorySegment data, int out, int in) {
        return new BF16Matrix(new MemorySegment[] {data}, out, in, out, in, false);
    }

    /**
     * Rows stacked in part order (dim 0): part {@code p} is {@code [rowsPerPart, in]} and holds output rows
     * {@code [p * rowsPerPart, (p + 1) * rowsPerPart)}.
     */
    public static BF16Matrix stackedRows(List<MemorySegment> parts, int rowsPerPart, int in) {
        return new BF16Matrix(parts.toArray(MemorySegment[]::new), Math.multiplyExact(rowsPerPart, parts.size()), in,
                rowsPerPart, in, false);
    }

    /**
     * Columns joined in part order (dim 1): part {@code p} is {@code [out, colsPerPart]} and holds input columns
     * {@code [p * colsPerPart, (p + 1) * colsPerPart)}.
     */
    public static BF16Matrix joinedColumns(List<MemorySegment> parts, int out, int colsPerPart) {
        return new BF16Matrix(parts.toArray(MemorySegment[]::new), out, Math.multiplyExact(colsPerPart, parts.size()),
                out, colsPerPart, true);
    }

    @Override public int inputDim() { return in; }
    @Override public int outputDim() { return out; }
    @Override public long storedBytes() { return 2L * in * out; }
    @Override public String typeName() { return parts.length == 1 ? "bf16" : "bf16 x " + parts.length + " slices"; }

    /** {@code W[k][c]} in the {@link WeightMatrix} orientation, i.e. stored element {@code [c, k]}. */
    public float get(int k, int c) {
        if (joinedColumns) {
            return BF16Kernels.bf16(parts[k / partCols], 2L * ((long) c * partCols + k % partCols));
        }
        return BF16Kernels.bf16(parts[c / partRows], 2L * ((long) (c % partRows) * in + k));
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
        int len = joinedColumns ? partCols : in;
        int block = tokens < BLOCK_TOKENS && !batch ? len : KB;
        boolean one = tokens == 1 && !batch;
        int padTo = one ? 1 : (tokens + 3) / 4 * 4;
        s.ensure(padTo * ((Math.min(block, len) + 1) / 2));
        for (int ip = 0; ip < inParts; ip++) {
            for (int k0 = 0; k0 < len; k0 += block) {
                int kc = Math.min(block, len - k0);
                BF16Kernels.deinterleave(x, in, ip * len + k0, kc, tokens, padTo, s.even, s.odd);
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
            float v = BF16Kernels.dot1(segment(ip, c), offset(ip, c) + 2L * k0, kc, s.even, s.odd, 0);
            y[c] = first ? v : y[c] + v;
        }
    }

    private void rowsManyTokens(int ip, int k0, int kc, int tokens, int padTo, Scratch s, float[] y, int n0, int n1,
                                boolean first) {
        int half = (kc + 1) / 2;
        float[] tile = s.tile;
        for (int c = n0; c < n1; c += 2) {
            int c1 = Math.min(c + 1, n1 - 1); // an odd last row is computed twice and written once
            MemorySegment w0 = segment(ip, c), w1 = segment(ip, c1);
            long o0 = offset(ip, c) + 2L * k0, o1 = offset(ip, c1) + 2L * k0;
            for (int t0 = 0; t0 < padTo; t0 += 4) {
                BF16Kernels.dot2x4(w0, o0, w1, o1, kc, s.even, s.odd, t0 * half, half, tile);
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

    /** The part holding row {@code c} for input part {@code ip}. */
    private MemorySegment segment(int ip, int c) {
        return joinedColumns ? parts[ip] : parts[c / partRows];
    }

    /** Byte offset of row {@code c}'s first element within {@link #segment}. */
    private long offset(int ip, int c) {
        return joinedColumns ? 2L * c * partCols : 2L * (c % partRows) * in;
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
