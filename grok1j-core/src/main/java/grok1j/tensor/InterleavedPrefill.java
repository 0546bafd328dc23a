package grok1j.tensor;

import java.util.Arrays;

/**
 * The prefill GEMM of the row-interleaved decode layouts ({@link InterleavedQ8_0Matrix}, {@link InterleavedQ6_KMatrix}):
 * their groups of {@value #GROUP} stored rows are already what {@link Int8PanelGemm} stages and dequantizes, a strip
 * of 32 columns stored position by position, so this is that GEMM without the staging. Per panel of
 * {@link #PANEL_GROUPS} groups and block of {@code KB} input rows: the tokens' activations are packed as rows, each
 * group's strip is dequantized by the layout into L1 and multiplied by {@link GgufPanelGemm#kernel8}, 8 tokens x 2
 * vectors, the activation broadcast (with 256-bit vectors {@link GgufPanelGemm#kernel4}, 4 tokens x 2 vectors, on
 * each 16-column half of the strip). Each output is one float32 FMA chain over {@code k} in order: with the floats
 * the GGUF rows dequantize to, the result of {@link GgufPanelGemm} on those rows, bit for bit, whatever the layout.
 */
final class InterleavedPrefill {
    private InterleavedPrefill() {}

    /** Stored rows per group: two 16-lane vectors. */
    static final int GROUP = 32;
    private static final int L = GgmlKernels.L;
    /** Groups of a prefill panel: 1024 columns, whose partial sums for 512 tokens (2 MB) stay in L2/L3. */
    private static final int PANEL_GROUPS = 32;
    /** Tokens of the register tile: {@link GgufPanelGemm#kernel8} (512-bit), {@link GgufPanelGemm#kernel4} (256-bit). */
    private static final int MR = L == 16 ? 8 : 4;
    /** Columns of the register tile (two vectors), and the tiles a group's 32 columns make: 1 (512-bit) or 2. */
    private static final int NR = GgufPanelGemm.NR;
    private static final int HALVES = GROUP / NR;
    /** Input rows of a block: a multiple of every layout's scale block (256). */
    static final int KB = GgufPanelGemm.KB;

    /** A layout's dequantization of one group's input rows into a strip. */
    interface Strips {
        /**
         * Group {@code g}'s weights for input rows {@code [kb, kb + kc)} ({@code kb} a multiple of {@link #KB}) as
         * floats: with 512-bit vectors {@code strip[i * 32 + j]} for column {@code j}, with 256-bit vectors in two
         * halves of 16 columns, {@code strip[h * KB * 16 + i * 16 + j]} for column {@code 16 h + j}.
         */
        void dequantize(int g, int kb, int kc, float[] strip);
    }

    /** Per-thread buffers, grown to the largest token count seen. */
    private static final class Scratch {
        final float[] strip = new float[KB * GROUP];
        float[] block = new float[0];
        float[] acc = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code y[t * n + c] = sum_i x[t * k + i] * W[c][i]} for {@code t < tokens}, {@code c in [n0, n1)}, with the
     * weights of a matrix of {@code n} columns (a multiple of {@value #GROUP}) and {@code k} input rows.
     */
    static void multiply(float[] x, int tokens, float[] y, int k, int n, int n0, int n1, Strips strips) {
        Scratch s = SCRATCH.get();
        int tiles = (tokens + MR - 1) / MR;
        int tileFloats = MR * GROUP;
        if (s.block.length < tiles * MR * KB) {
            s.block = new float[tiles * MR * KB];
        }
        if (s.acc.length < PANEL_GROUPS * tiles * tileFloats) {
            s.acc = new float[PANEL_GROUPS * tiles * tileFloats];
        }
        int gEnd = (n1 + GROUP - 1) / GROUP;
        for (int p0 = n0 / GROUP; p0 < gEnd; p0 += PANEL_GROUPS) {
            int p1 = Math.min(gEnd, p0 + PANEL_GROUPS);
            for (int kb = 0; kb < k; kb += KB) {
                int kc = Math.min(KB, k - kb);
                for (int t = 0; t < tiles * MR; t++) {
                    if (t < tokens) {
                        System.arraycopy(x, t * k + kb, s.block, t * KB, kc);
                    } else {
                        Arrays.fill(s.block, t * KB, t * KB + kc, 0f);
                    }
                }
                for (int g = p0; g < p1; g++) {
                    strips.dequantize(g, kb, kc, s.strip);
                    int a = (g - p0) * tiles * tileFloats;
                    for (int tt = 0; tt < tiles; tt++, a += tileFloats) {
                        if (L == 16) {
                            GgufPanelGemm.kernel8(s.block, tt * MR * KB, s.strip, 0, kc, s.acc, a, kb == 0);
                        } else {
                            for (int h = 0; h < HALVES; h++) {
                                GgufPanelGemm.kernel4(s.block, tt * MR * KB, s.strip, h * KB * NR, kc, s.acc,
                                        a + h * MR * NR, kb == 0);
                            }
                        }
                    }
                }
            }
            for (int g = p0; g < p1; g++) {
                int c0 = Math.max(n0, g * GROUP);
                int c1 = Math.min(n1, (g + 1) * GROUP);
                for (int t = 0; t < tokens; t++) {
                    // token t's outputs of half h: NR columns at tile + h * MR * NR + (t % MR) * NR
                    int tile = (g - p0) * tiles * tileFloats + t / MR * tileFloats + t % MR * NR;
                    for (int h = 0; h < HALVES; h++) {
                        int from = Math.max(c0, g * GROUP + h * NR), to = Math.min(c1, g * GROUP + (h + 1) * NR);
                        if (from < to) {
                            System.arraycopy(s.acc, tile + h * MR * NR + from - g * GROUP - h * NR, y, t * n + from, to - from);
                        }
                    }
                }
            }
        }
    }
}
