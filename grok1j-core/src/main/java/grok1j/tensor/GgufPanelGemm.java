package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Prefill GEMM of a GGUF weight ({@link GgufMatrix}): for {@code x [tokens, K]} and output columns {@code [n0, n1)},
 * {@code y[t][c] = sum_k x[t][k] * w[c][k]}, where stored row {@code c} holds output column {@code c} as blocks along
 * {@code K}. Weights dequantize exactly ({@link GgmlRowDequant}); every output is one float32 FMA chain over
 * {@code k = 0, 1, ..., K-1}, the summation order of {@link Int8PanelGemm} for the official format.
 *
 * <p>GGUF rows are contiguous along {@code K}, so the register tile is the transpose of {@link Int8PanelGemm}'s:
 * lanes run over tokens, weights are broadcast. Dequantizing a row gives exactly the broadcast stream, and only the
 * activations, which every column reuses, need packing. Blocking, per thread:
 * <pre>
 * for each chunk of at most MAX_TOKENS tokens, for each group of columns whose partial sums fit ACC_FLOATS
 *   for each block of KB input rows
 *     pack the chunk's activations as strips of NR tokens, k-major     (KB x NR floats a strip, stays in L1)
 *     for each panel of NB columns
 *       dequantize the panel's rows [kb, kb + KB)                        (NB x KB floats, stays in L2)
 *       for each strip, for each tile of MR columns: MR x NR register tile += panel rows (MR x KB) * strip (KB x NR)
 *   copy the group's partial sums (column-major) to y (token-major)
 * </pre>
 * Each weight is read and dequantized once per token chunk; packing costs about {@code 1 / group} of the FMAs.
 *
 * <p>Layouts: strips hold {@code NR} tokens, except that the last one holds {@code nr = L} (one vector,
 * {@link #kernel8x1}) when at most {@code L} tokens are left for it; strip {@code ts} of width {@code nr} is
 * {@code xs[ts * KB * NR + i * nr + j] = x[t0 + ts * NR + j][kb + i]} (0 past the last token); panel
 * {@code panel[c * KB + i] = w[p0 + c][kb + i]} (0 past the last column); partial sums
 * {@code acc[ts * colTiles * MR * NR + c * nr + j]} for column {@code c} of the group. The strip width changes only
 * how many lanes run at once, never an output's FMA chain.
 *
 * <p>The tile is chosen per vector width ({@code grok1j.kernel.lanes}, as {@link GgmlKernels}): AVX-512 (32
 * registers) runs 8 columns x 2 vectors (16 accumulators, 2 loads and 8 broadcasts per 16 FMAs); AVX2 (16
 * registers) 4 x 2, the tile that does not spill there (see {@link Int8PanelGemm}).
 */
final class GgufPanelGemm {
    private GgufPanelGemm() {}

    static final int L = GgmlKernels.L;
    private static final VectorSpecies<Float> F = L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final boolean WIDE = L == 16;

    /** Columns of the register tile. */
    static final int MR = WIDE ? 8 : 4;
    /** Tokens of a strip: the register tile's two vectors (one, {@link #kernel8x1}, when the tokens fit L). */
    static final int NR = 2 * L;
    /** Input rows of a block: a multiple of every block size (256); a strip is 16 KB (AVX2) or 32 KB (AVX-512). */
    static final int KB = 256;
    /** Columns of a panel: NB x KB floats = 128 KB, in L2 while every strip runs over it. */
    static final int NB = 128;
    /** Partial sums of a column group, at most 4 MB of floats (L3); a wider group packs the activations less often. */
    static final int ACC_FLOATS = 1024 * 1024;
    /** Tokens per pass: more would shrink the column group (and repeat the packing) without saving dequantization. */
    static final int MAX_TOKENS = 512;
    /** From this many tokens on, {@link GgufMatrix#multiply} uses this GEMM instead of one dot per (row, token). */
    static final int MIN_TOKENS = L;

    /** Per-thread buffers: allocated once, grown to the largest token count seen. */
    private static final class Scratch {
        final float[] panel = new float[NB * KB];
        float[] xs = new float[0];
        float[] acc = new float[0];

        void ensure(int xsFloats, int accFloats) {
            if (xs.length < xsFloats) {
                xs = new float[xsFloats];
            }
            if (acc.length < accFloats) {
                acc = new float[accFloats];
            }
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code y[t * n + c] = sum_i x[t * k + i] * w[c][i]} for {@code t < tokens}, {@code c in [n0, n1)}, where row
     * {@code c} of {@code w} starts at byte {@code c * rowBytes} of {@code data}; other columns are not touched.
     */
    static void multiply(GgmlType type, MemorySegment data, long rowBytes, int k, int n,
                         float[] x, int tokens, float[] y, int n0, int n1) {
        multiply(type, data, rowBytes, k, n, x, tokens, y, n0, n1, ACC_FLOATS);
    }

    /** {@link #multiply} with a partial-sum budget of {@code accFloats} per column group (tests use small ones). */
    static void multiply(GgmlType type, MemorySegment data, long rowBytes, int k, int n,
                         float[] x, int tokens, float[] y, int n0, int n1, int accFloats) {
        Scratch s = SCRATCH.get();
        for (int t0 = 0; t0 < tokens; t0 += MAX_TOKENS) {
            int tc = Math.min(MAX_TOKENS, tokens - t0);
            // strips of NR tokens, but a last strip of at most L tokens (all of a prompt's last row, the remainder of an
            // expert's tokens) is narrow: padded to L instead of NR, which saves a quarter of an expert's FMAs at
            // worst (144 tokens: 160 instead of 192). Every output is still the same FMA chain, so the same bits.
            int strips = (tc + NR - 1) / NR;
            boolean narrowTail = tc - (strips - 1) * NR <= L;
            int padded = strips * NR;
            int group = Math.max(NB, accFloats / padded / NB * NB);
            int widest = Math.min(group, n1 - n0);
            s.ensure(strips * KB * NR, padded * ((widest + MR - 1) / MR * MR));
            for (int g0 = n0; g0 < n1; g0 += group) {
                int gw = Math.min(group, n1 - g0);
                int colTiles = (gw + MR - 1) / MR;
                for (int kb = 0; kb < k; kb += KB) {
                    int kc = Math.min(KB, k - kb);
                    packTokens(x, k, t0, tc, strips, narrowTail, kb, kc, s.xs);
                    for (int p0 = 0; p0 < gw; p0 += NB) {
                        int pw = Math.min(NB, gw - p0);
                        int tiles = (pw + MR - 1) / MR;
                        dequantPanel(type, data, rowBytes, g0 + p0, pw, tiles * MR, kb, kc, s.panel);
                        for (int ts = 0; ts < strips; ts++) {
                            boolean narrow = narrowTail && ts == strips - 1;
                            int nr = narrow ? L : NR;
                            int a = ts * colTiles * MR * NR + p0 * nr;
                            for (int ct = 0; ct < tiles; ct++, a += MR * nr) {
                                if (WIDE) {
                                    if (narrow) {
                                        kernel8x1(s.panel, ct * MR * KB, s.xs, ts * KB * NR, kc, s.acc, a, kb == 0);
                                    } else {
                                        kernel8(s.panel, ct * MR * KB, s.xs, ts * KB * NR, kc, s.acc, a, kb == 0);
                                    }
                                } else if (narrow) {
                                    kernel4x1(s.panel, ct * MR * KB, s.xs, ts * KB * NR, kc, s.acc, a, kb == 0);
                                } else {
                                    kernel4(s.panel, ct * MR * KB, s.xs, ts * KB * NR, kc, s.acc, a, kb == 0);
                                }
                            }
                        }
                    }
                }
                copyOut(s.acc, colTiles, strips, narrowTail, t0, tc, gw, y, n, g0);
            }
        }
    }

    /**
     * Strips of {@link #NR} tokens {@code [t0, t0 + tc)} (the last of {@code L} when {@code narrowTail}), input rows
     * {@code [kb, kb + kc)}: one token row at a time, 0 past tc. Strip {@code ts} starts at {@code ts * KB * NR}.
     */
    private static void packTokens(float[] x, int k, int t0, int tc, int strips, boolean narrowTail, int kb, int kc,
                                   float[] xs) {
        int end = narrowTail ? (strips - 1) * NR + L : strips * NR;
        for (int t = 0; t < end; t++) {
            int ts = t / NR;
            int nr = narrowTail && ts == strips - 1 ? L : NR;
            int base = ts * KB * NR + t % NR;
            if (t < tc) {
                int xo = (t0 + t) * k + kb;
                for (int i = 0; i < kc; i++) {
                    xs[base + i * nr] = x[xo + i];
                }
            } else {
                for (int i = 0; i < kc; i++) {
                    xs[base + i * nr] = 0f;
                }
            }
        }
    }

    /** Rows {@code [c0, c0 + rows)}, elements {@code [kb, kb + kc)}, into {@code panel}; rows up to {@code padded} are 0. */
    private static void dequantPanel(GgmlType type, MemorySegment data, long rowBytes, int c0, int rows, int padded,
                                     int kb, int kc, float[] panel) {
        long skip = type.bytesFor(kb);
        for (int c = 0; c < rows; c++) {
            GgmlRowDequant.dequantize(type, data, (c0 + c) * rowBytes + skip, panel, c * KB, kc);
        }
        for (int c = rows; c < padded; c++) {
            Arrays.fill(panel, c * KB, c * KB + kc, 0f);
        }
    }

    /**
     * The 8-column by 2-vector register tile (AVX-512): {@code acc[a + r * NR + j] (+)= sum_{i < kc}
     * panel[wo + r * KB + i] * xs[xo + i * NR + j]} for {@code r < 8}, {@code j < NR}; from zero when {@code first}.
     */
    static void kernel8(float[] panel, int wo, float[] xs, int xo, int kc, float[] acc, int a, boolean first) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (first) {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = FloatVector.zero(F);
            c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = c00;
        } else {
            c00 = FloatVector.fromArray(F, acc, a); c01 = FloatVector.fromArray(F, acc, a + L);
            c10 = FloatVector.fromArray(F, acc, a + NR); c11 = FloatVector.fromArray(F, acc, a + NR + L);
            c20 = FloatVector.fromArray(F, acc, a + 2 * NR); c21 = FloatVector.fromArray(F, acc, a + 2 * NR + L);
            c30 = FloatVector.fromArray(F, acc, a + 3 * NR); c31 = FloatVector.fromArray(F, acc, a + 3 * NR + L);
            c40 = FloatVector.fromArray(F, acc, a + 4 * NR); c41 = FloatVector.fromArray(F, acc, a + 4 * NR + L);
            c50 = FloatVector.fromArray(F, acc, a + 5 * NR); c51 = FloatVector.fromArray(F, acc, a + 5 * NR + L);
            c60 = FloatVector.fromArray(F, acc, a + 6 * NR); c61 = FloatVector.fromArray(F, acc, a + 6 * NR + L);
            c70 = FloatVector.fromArray(F, acc, a + 7 * NR); c71 = FloatVector.fromArray(F, acc, a + 7 * NR + L);
        }
        // one int induction variable, every index affine in it: C2 hoists the range checks out of the loop
        for (int i = 0; i < kc; i++) {
            final FloatVector b0 = FloatVector.fromArray(F, xs, xo + i * NR);
            final FloatVector b1 = FloatVector.fromArray(F, xs, xo + i * NR + L);
            FloatVector v = FloatVector.broadcast(F, panel[wo + i]);
            c00 = b0.fma(v, c00); c01 = b1.fma(v, c01);
            v = FloatVector.broadcast(F, panel[wo + KB + i]);
            c10 = b0.fma(v, c10); c11 = b1.fma(v, c11);
            v = FloatVector.broadcast(F, panel[wo + 2 * KB + i]);
            c20 = b0.fma(v, c20); c21 = b1.fma(v, c21);
            v = FloatVector.broadcast(F, panel[wo + 3 * KB + i]);
            c30 = b0.fma(v, c30); c31 = b1.fma(v, c31);
            v = FloatVector.broadcast(F, panel[wo + 4 * KB + i]);
            c40 = b0.fma(v, c40); c41 = b1.fma(v, c41);
            v = FloatVector.broadcast(F, panel[wo + 5 * KB + i]);
            c50 = b0.fma(v, c50); c51 = b1.fma(v, c51);
            v = FloatVector.broadcast(F, panel[wo + 6 * KB + i]);
            c60 = b0.fma(v, c60); c61 = b1.fma(v, c61);
            v = FloatVector.broadcast(F, panel[wo + 7 * KB + i]);
            c70 = b0.fma(v, c70); c71 = b1.fma(v, c71);
        }
        c00.intoArray(acc, a); c01.intoArray(acc, a + L);
        c10.intoArray(acc, a + NR); c11.intoArray(acc, a + NR + L);
        c20.intoArray(acc, a + 2 * NR); c21.intoArray(acc, a + 2 * NR + L);
        c30.intoArray(acc, a + 3 * NR); c31.intoArray(acc, a + 3 * NR + L);
        c40.intoArray(acc, a + 4 * NR); c41.intoArray(acc, a + 4 * NR + L);
        c50.intoArray(acc, a + 5 * NR); c51.intoArray(acc, a + 5 * NR + L);
        c60.intoArray(acc, a + 6 * NR); c61.intoArray(acc, a + 6 * NR + L);
        c70.intoArray(acc, a + 7 * NR); c71.intoArray(acc, a + 7 * NR + L);
    }

    /** The 4-column by 2-vector register tile (AVX2); as {@link #kernel8} with {@code r < 4}. */
    static void kernel4(float[] panel, int wo, float[] xs, int xo, int kc, float[] acc, int a, boolean first) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31;
        if (first) {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = FloatVector.zero(F);
        } else {
            c00 = FloatVector.fromArray(F, acc, a); c01 = FloatVector.fromArray(F, acc, a + L);
            c10 = FloatVector.fromArray(F, acc, a + NR); c11 = FloatVector.fromArray(F, acc, a + NR + L);
            c20 = FloatVector.fromArray(F, acc, a + 2 * NR); c21 = FloatVector.fromArray(F, acc, a + 2 * NR + L);
            c30 = FloatVector.fromArray(F, acc, a + 3 * NR); c31 = FloatVector.fromArray(F, acc, a + 3 * NR + L);
        }
        for (int i = 0; i < kc; i++) {
            final FloatVector b0 = FloatVector.fromArray(F, xs, xo + i * NR);
            final FloatVector b1 = FloatVector.fromArray(F, xs, xo + i * NR + L);
            FloatVector v = FloatVector.broadcast(F, panel[wo + i]);
            c00 = b0.fma(v, c00); c01 = b1.fma(v, c01);
            v = FloatVector.broadcast(F, panel[wo + KB + i]);
            c10 = b0.fma(v, c10); c11 = b1.fma(v, c11);
            v = FloatVector.broadcast(F, panel[wo + 2 * KB + i]);
            c20 = b0.fma(v, c20); c21 = b1.fma(v, c21);
            v = FloatVector.broadcast(F, panel[wo + 3 * KB + i]);
            c30 = b0.fma(v, c30); c31 = b1.fma(v, c31);
        }
        c00.intoArray(acc, a); c01.intoArray(acc, a + L);
        c10.intoArray(acc, a + NR); c11.intoArray(acc, a + NR + L);
        c20.intoArray(acc, a + 2 * NR); c21.intoArray(acc, a + 2 * NR + L);
        c30.intoArray(acc, a + 3 * NR); c31.intoArray(acc, a + 3 * NR + L);
    }

    /**
     * The 8-column by 1-vector register tile (AVX-512) for at most L tokens: {@code acc[a + r * L + j] (+)= sum_{i < kc}
     * panel[wo + r * KB + i] * xs[xo + i * L + j]} for {@code r < 8}, {@code j < L}; from zero when {@code first}.
     * Per output the same FMA chain as {@link #kernel8}.
     */
    private static void kernel8x1(float[] panel, int wo, float[] xs, int xo, int kc, float[] acc, int a, boolean first) {
        FloatVector c0, c1, c2, c3, c4, c5, c6, c7;
        if (first) {
            c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = FloatVector.zero(F);
        } else {
            c0 = FloatVector.fromArray(F, acc, a); c1 = FloatVector.fromArray(F, acc, a + L);
            c2 = FloatVector.fromArray(F, acc, a + 2 * L); c3 = FloatVector.fromArray(F, acc, a + 3 * L);
            c4 = FloatVector.fromArray(F, acc, a + 4 * L); c5 = FloatVector.fromArray(F, acc, a + 5 * L);
            c6 = FloatVector.fromArray(F, acc, a + 6 * L); c7 = FloatVector.fromArray(F, acc, a + 7 * L);
        }
        for (int i = 0; i < kc; i++) {
            final FloatVector b = FloatVector.fromArray(F, xs, xo + i * L);
            c0 = b.fma(FloatVector.broadcast(F, panel[wo + i]), c0);
            c1 = b.fma(FloatVector.broadcast(F, panel[wo + KB + i]), c1);
            c2 = b.fma(FloatVector.broadcast(F, panel[wo + 2 * KB + i]), c2);
            c3 = b.fma(FloatVector.broadcast(F, panel[wo + 3 * KB + i]), c3);
            c4 = b.fma(FloatVector.broadcast(F, panel[wo + 4 * KB + i]), c4);
            c5 = b.fma(FloatVector.broadcast(F, panel[wo + 5 * KB + i]), c5);
            c6 = b.fma(FloatVector.broadcast(F, panel[wo + 6 * KB + i]), c6);
            c7 = b.fma(FloatVector.broadcast(F, panel[wo + 7 * KB + i]), c7);
        }
        c0.intoArray(acc, a); c1.intoArray(acc, a + L);
        c2.intoArray(acc, a + 2 * L); c3.intoArray(acc, a + 3 * L);
        c4.intoArray(acc, a + 4 * L); c5.intoArray(acc, a + 5 * L);
        c6.intoArray(acc, a + 6 * L); c7.intoArray(acc, a + 7 * L);
    }

    /** The 4-column by 1-vector register tile (AVX2); as {@link #kernel8x1} with {@code r < 4}. */
    private static void kernel4x1(float[] panel, int wo, float[] xs, int xo, int kc, float[] acc, int a, boolean first) {
        FloatVector c0, c1, c2, c3;
        if (first) {
            c0 = c1 = c2 = c3 = FloatVector.zero(F);
        } else {
            c0 = FloatVector.fromArray(F, acc, a); c1 = FloatVector.fromArray(F, acc, a + L);
            c2 = FloatVector.fromArray(F, acc, a + 2 * L); c3 = FloatVector.fromArray(F, acc, a + 3 * L);
        }
        for (int i = 0; i < kc; i++) {
            final FloatVector b = FloatVector.fromArray(F, xs, xo + i * L);
            c0 = b.fma(FloatVector.broadcast(F, panel[wo + i]), c0);
            c1 = b.fma(FloatVector.broadcast(F, panel[wo + KB + i]), c1);
            c2 = b.fma(FloatVector.broadcast(F, panel[wo + 2 * KB + i]), c2);
            c3 = b.fma(FloatVector.broadcast(F, panel[wo + 3 * KB + i]), c3);
        }
        c0.intoArray(acc, a); c1.intoArray(acc, a + L);
        c2.intoArray(acc, a + 2 * L); c3.intoArray(acc, a + 3 * L);
    }

    /**
     * The group's column-major partial sums (strips as in the class comment) to rows {@code t0 ..} of {@code y}, columns
     * {@code [g0, g0 + gw)}.
     */
    private static void copyOut(float[] acc, int colTiles, int strips, boolean narrowTail, int t0, int tc, int gw,
                                float[] y, int n, int g0) {
        for (int t = 0; t < tc; t++) {
            int ts = t / NR;
            int nr = narrowTail && ts == strips - 1 ? L : NR;
            int ao = ts * colTiles * MR * NR + t % NR;
            int yo = (t0 + t) * n + g0;
            for (int c = 0; c < gw; c++) {
                y[yo + c] = acc[ao + c * nr];
            }
        }
    }
}
