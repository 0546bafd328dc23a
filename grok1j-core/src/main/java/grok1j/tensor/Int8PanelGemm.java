package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Prefill GEMM of the official int8 format ({@link Int8GroupedMatrix}): for {@code x [tokens, K]} and output columns
 * {@code [n0, n1)}, {@code y[t][c] = sum_k x[t][k] * q[k][c] * s[k / groupRows][c]}, with int8 {@code q [K, N]}
 * row-major and bf16 scales {@code s [K / groupRows, N]}. The dequantized weight {@code q * s} is exact in float32.
 *
 * <p>Blocking, per thread (BLIS-like; measured numbers in the constants' comments):
 * <pre>
 * for each block of KB = 256 input rows x NB = 1024 columns (order: see multiply, column panels in groups)
 *   the block's int8 rows were copied ("staged") to a contiguous buffer while the previous block was computed
 *   pack the block's activations of every token                       (tokens x KB floats)
 *   for each strip of NR = 16 columns
 *     dequantize the strip from the staged bytes                       (KB x NR floats = 16 KB, stays in L1)
 *     for each tile of MR tokens: MR x NR register tile += tile (MR x KB) * strip (KB x NR)
 *     stage 1/strips of the next block's rows
 * after the last row block of a panel: copy its tokens x NB partial sums to y
 * </pre>
 * Every weight byte is read from memory once per call (per thread) and dequantized once; each strip then serves all
 * tokens from L1. A first version dequantized straight from the weights into a KB x NB float panel in L2: 0.4-0.7 ns
 * per weight in isolation (1 KB runs at an 8 KB stride from DRAM, and 4-byte stores that overflow L1), 14 % of the
 * time at 128 tokens. With the int8 staging and per-strip dequantization (measured at 128 tokens by skipping each
 * step): staging ~12 % when done before the block, ~8 % spread over the previous block's strips (one row per kernel
 * call instead was 3-7 % slower overall); dequantization ~3 %.
 *
 * <p>Layouts:
 * <ul>
 * <li>staged block: {@code staging[i * NB + j] = q[kb + i][c + j]} (int8, one row of the block per NB bytes);</li>
 * <li>strip: {@code strip[i * NR + j] = q[kb + i][c + j0 + j] * s[group of kb + i][c + j0 + j]}, so the micro-kernel
 *     reads one 64-byte line per k-step, sequentially; columns past the panel's width are 0;</li>
 * <li>activations: tile {@code tt} holds tokens {@code 4 tt .. 4 tt + 3}, each as one contiguous row of KB floats,
 *     {@code block[(tt * MR + r) * KB + i] = x[tt * MR + r][kb + i]} (tokens past the end are 0), so packing is a row
 *     copy and the four broadcasts of a k-step read four sequential streams 1 KB apart (different L1 sets; the rows
 *     of {@code x} itself are {@code 4 K} bytes apart, 24 KB for K = 6144, which all fall into one L1 set);</li>
 * <li>partial sums: strip-major, {@code acc[((st * tiles + tt) * MR + r) * NR + j]}, so the tiles of one strip, which
 *     run one after the other, load and store consecutive 256-byte pieces.</li>
 * </ul>
 *
 * <p>Block sizes, measured 1 thread, 6144 x 8192, against KB = 256 / NB = 1024 (median ratio of alternating runs):
 * KB = 128 0.95 (128 tokens) / 0.97 (32 tokens), KB = 384 0.98 / 1.01, NB = 512 0.99 / 0.98, NB = 2048 0.95 / 0.99.
 * So the choice is flat around here; KB = 256 keeps the strip at half of L1, NB = 1024 keeps the two staging
 * buffers at 256 KB each.
 *
 * <p>The register tile is 4 tokens by 2 vectors on AVX2 (8 accumulators, 2 weight vectors, 4 broadcasts = 14 of 16 ymm
 * registers). A 6 x 2 tile (12 accumulators) has 1.5x the FMAs per load, but C2 schedules all six broadcast loads of
 * a k-step ahead of the FMAs, runs out of registers and keeps one or two accumulators on the stack (read, FMA and
 * write back every k-step): 34-38 GFLOP/s against 65-82 for 4 x 2 in the same kernel-only benchmark (strip in L1).
 * The 4 x 2 loop is 18 instructions, 8 FMAs, no spills, no range checks. A last tile of 1 to 3 tokens runs the same
 * kernel on zero rows: with 8 accumulators and 4-cycle FMA latency a 2-token kernel would not be faster. With 32
 * registers (AVX-512) the tile is 8 tokens by 2 vectors: one thread, 6144 x 16384, 128 tokens (an
 * expert's share of a 512-token prompt), against the FMA probe in the same JVM, 0.76 (4 x 2) -> 0.84 (Zen 5).
 *
 * <p>The register tiles are {@link GgufPanelGemm}'s ({@code kernel8}, {@code kernel4}) with the roles of the operands
 * swapped: there the weights are broadcast and the tokens loaded, here the tokens' activations are broadcast and the
 * strip's columns loaded; both read one broadcast stream KB apart per tile row and one NR-wide row per k-step.
 * Kernels follow kernels.md §4.3: static final species, one flat method per kernel, vectors only in locals.
 * Scratch is per thread; after the first call at a given token count nothing is allocated.
 */
final class Int8PanelGemm {
    private Int8PanelGemm() {}

    /** Float lanes per vector, chosen as for the GGUF kernels ({@link GgmlKernels#L}, tests force 8). */
    static final int L = GgmlKernels.L;
    private static final boolean WIDE = L == 16;
    private static final VectorSpecies<Float> F = WIDE ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    /** Byte species with as many lanes as {@link #F}: 8 int8 weights widen to one float vector. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Tokens of the register tile: 8 with 32 registers (AVX-512), 4 with 16 (AVX2, where 6 already spills). */
    static final int MR = WIDE ? 8 : 4;
    /** Columns of a strip: the register tile's two vectors (the GGUF GEMM's NR, whose tiles this GEMM runs). */
    static final int NR = GgufPanelGemm.NR;
    /**
     * Input rows of a block: the length of the micro-kernel's loop. A strip is KB x NR floats = 16 KB, half of L1,
     * next to the four activation streams. Longer blocks amortize the partial sums' load and store (16 per kernel
     * call of KB x 8 FMAs).
     */
    static final int KB = GgufPanelGemm.KB;
    /**
     * Columns of a block: the staged rows are NB bytes long (two staging buffers of KB x NB = 256 KB), the partial
     * sums of a panel {@code tokens x NB} floats.
     */
    static final int NB = 1024;
    /** At most this many column panels share their row blocks (see the block order in {@link #multiply}). */
    static final int MAX_GROUP = 8;
    /** Partial sums of a panel group, at most 2 MB of floats (L3): fewer panels per group for many tokens. */
    static final int GROUP_ACC_FLOATS = 512 * 1024;

    /** Per-thread buffers: allocated once, the token-dependent ones grow to the largest token count seen. */
    private static final class Scratch {
        final byte[][] staging = {new byte[KB * NB], new byte[KB * NB]};
        final float[] strip = new float[KB * NR];
        final float[] scale = new float[NR];
        float[] block = new float[0];
        float[] acc = new float[0];

        void ensure(int tiles, int accFloats) {
            if (block.length < tiles * MR * KB) {
                block = new float[tiles * MR * KB];
            }
            if (acc.length < accFloats) {
                acc = new float[accFloats];
            }
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code y[t * n + c] = sum_r x[t * k + r] * q[r][c] * s[r / groupRows][c]} for {@code t < tokens},
     * {@code c in [n0, n1)}; other columns of {@code y} are not touched.
     */
    static void multiply(MemorySegment q, MemorySegment scales, int k, int n, long stride, int groupRows,
                         float[] x, int tokens, float[] y, int n0, int n1) {
        Scratch s = SCRATCH.get();
        int tiles = (tokens + MR - 1) / MR;
        int panelFloats = tiles * MR * NB;
        int group = Math.max(1, Math.min(MAX_GROUP, GROUP_ACC_FLOATS / panelFloats));
        s.ensure(tiles, group * panelFloats);
        int rowBlocks = (k + KB - 1) / KB;
        int panels = (n1 - n0 + NB - 1) / NB;
        int blocks = panels * rowBlocks;
        stage(q, stride, k, n1, n0, 0, 0, KB, s.staging[0]);
        for (int b = 0; b < blocks; b++) {
            int panel = panelOf(b, rowBlocks, panels, group);
            int c = n0 + panel * NB;
            int kb = rowBlockOf(b, rowBlocks, panels, group) * KB;
            int w = Math.min(NB, n1 - c);
            int kc = Math.min(KB, k - kb);
            int acc = panel % group * panelFloats;
            byte[] staged = s.staging[b & 1];
            int nextC = n0 + panelOf(b + 1, rowBlocks, panels, group) * NB;
            int nextKb = rowBlockOf(b + 1, rowBlocks, panels, group) * KB;
            packTokens(x, k, tokens, kb, kc, s.block);
            int strips = (w + NR - 1) / NR;
            for (int st = 0; st < strips; st++) {
                dequantStrip(staged, scales, stride, groupRows, kb, kc, c, st * NR, w, s);
                int a = acc + st * tiles * MR * NR;
                for (int tt = 0; tt < tiles; tt++, a += MR * NR) {
                    // the GGUF GEMM's register tiles with the roles swapped: the broadcast stream is the tokens'
                    // activations, the loaded vectors the strip's columns (same KB and NR, same FMA chains)
                    if (WIDE) {
                        GgufPanelGemm.kernel8(s.block, tt * MR * KB, s.strip, 0, kc, s.acc, a, kb == 0);
                    } else {
                        GgufPanelGemm.kernel4(s.block, tt * MR * KB, s.strip, 0, kc, s.acc, a, kb == 0);
                    }
                }
                if (b + 1 < blocks) {
                    // a share of the next block's rows: their DRAM latency hides behind this strip's FMAs
                    stage(q, stride, k, n1, nextC, nextKb, KB * st / strips, KB * (st + 1) / strips, s.staging[(b + 1) & 1]);
                }
            }
            if (kb + kc == k) {
                copyOut(s.acc, acc, tiles, tokens, w, y, n, c);
            }
        }
    }

    /*
     * Block order: the column panels go in groups of `group`; within a group, row block 0 of each panel, then row
     * block 1 of each, ... So consecutive blocks continue the same weight rows (group x NB bytes of a row are read
     * within a few blocks: fewer TLB misses and DRAM page openings than jumping to the next K rows at once), while
     * each panel keeps its own partial sums.
     */

    /** Column panel (0-based, relative to n0) of block {@code b}. */
    private static int panelOf(int b, int rowBlocks, int panels, int group) {
        int first = b / (group * rowBlocks) * group;
        int width = Math.min(group, panels - first);
        return width <= 0 ? 0 : first + b % (group * rowBlocks) % width;
    }

    /** Row block (0-based) of block {@code b}. */
    private static int rowBlockOf(int b, int rowBlocks, int panels, int group) {
        int first = b / (group * rowBlocks) * group;
        int width = Math.min(group, panels - first);
        return width <= 0 ? 0 : b % (group * rowBlocks) / width;
    }

    /**
     * Copies rows {@code [r0, r1)} (clipped to the matrix) of the block at row {@code kb}, column {@code c} into
     * {@code staging}: one {@code min(NB, n1 - c)}-byte run per row.
     */
    private static void stage(MemorySegment q, long stride, int k, int n1, int c, int kb, int r0, int r1, byte[] staging) {
        int w = Math.min(NB, n1 - c);
        int end = Math.min(r1, k - kb);
        for (int r = r0; r < end; r++) {
            MemorySegment.copy(q, ValueLayout.JAVA_BYTE, (kb + r) * stride + c, staging, r * NB, w);
        }
    }

    /** The tiles of all tokens for rows {@code [kb, kb + kc)}: row copies, zero rows past the last token. */
    private static void packTokens(float[] x, int k, int tokens, int kb, int kc, float[] block) {
        int rows = (tokens + MR - 1) / MR * MR;
        for (int t = 0; t < rows; t++) {
            if (t < tokens) {
                System.arraycopy(x, t * k + kb, block, t * KB, kc);
            } else {
                java.util.Arrays.fill(block, t * KB, t * KB + kc, 0f);
            }
        }
    }

    /**
     * Strip {@code [j, j + NR)} of the staged block (columns relative to {@code c}), dequantized into
     * {@code s.strip}; split where a scale group ends. Columns at or past {@code w} become 0.
     */
    private static void dequantStrip(byte[] staged, MemorySegment scales, long stride, int groupRows,
                                     int kb, int kc, int c, int j, int w, Scratch s) {
        float[] strip = s.strip;
        float[] scale = s.scale;
        int cols = Math.min(NR, w - j);
        for (int r = kb; r < kb + kc; ) {
            int g = r / groupRows;
            int end = Math.min(kb + kc, (g + 1) * groupRows);
            long so = 2L * (g * stride + c + j);
            for (int jj = 0; jj < NR; jj++) {
                scale[jj] = jj < cols ? BFloat16.toFloat(scales.get(BF16, so + 2L * jj)) : 0f;
            }
            if (cols == NR) {
                final FloatVector s0 = FloatVector.fromArray(F, scale, 0);
                final FloatVector s1 = FloatVector.fromArray(F, scale, L);
                for (int i = r - kb; i < end - kb; i++) {
                    ((FloatVector) ByteVector.fromArray(B, staged, i * NB + j).convertShape(VectorOperators.B2F, F, 0))
                            .mul(s0).intoArray(strip, i * NR);
                    ((FloatVector) ByteVector.fromArray(B, staged, i * NB + j + L).convertShape(VectorOperators.B2F, F, 0))
                            .mul(s1).intoArray(strip, i * NR + L);
                }
            } else {
                // the panel's last, partial strip: the staged bytes past w are stale, so read only the valid ones
                for (int i = r - kb; i < end - kb; i++) {
                    for (int jj = 0; jj < NR; jj++) {
                        strip[i * NR + jj] = jj < cols ? staged[i * NB + j + jj] * scale[jj] : 0f;
                    }
                }
            }
            r = end;
        }
    }

    /**
     * Copies the panel's strip-major partial sums (from {@code acc[a]}) of columns {@code [c, c + w)} to the rows of
     * {@code y}.
     */
    private static void copyOut(float[] acc, int a, int tiles, int tokens, int w, float[] y, int n, int c) {
        for (int t = 0; t < tokens; t++) {
            int ao = a + t * NR;
            for (int j = 0; j < w; j += NR, ao += tiles * MR * NR) {
                System.arraycopy(acc, ao, y, t * n + c + j, Math.min(NR, w - j));
            }
        }
    }
}
