package grok1j.cli;

import grok1j.format.F32Embedding;
import grok1j.model.Embedding;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.model.Partition;
import grok1j.tensor.BF16Matrix;
import grok1j.tensor.BFloat16;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.Int8GroupedMatrix;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A model with random weights in off-heap memory, stored as its release stores them. Grok-1 (spec §2, §3.5): int8
 * {@code [in, out]} with bf16 scales (G = 1 for q/k/v/gate/up, G = 8 for the attention output and expert down
 * projections), f32 router, f32 {@code [vocab, d]} tied embedding. Grok-2 (grok-2 spec §1, §3; chosen by the config's
 * architecture): every matrix bf16 {@code [out, in]}, the dense MLP beside the experts, a bf16 embedding and an untied
 * bf16 output projection. Magnitudes are chosen so activations stay of order one. Closing it frees the memory.
 *
 * <p>For one rank of a tensor-parallel job ({@link #SyntheticModel(GrokConfig, ThreadPool, Partition)}) the whole
 * model lives in a sparse mapping of a deleted temporary file and only the rank's slices are written, so a host holds
 * its share of the weights, as it would of a real checkpoint: two ranks on one machine fit where two whole models
 * would not. The other bytes read as zeros and are never touched by the rank.
 */
final class SyntheticModel implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Arena arena = Arena.ofShared();
    private final ThreadPool pool;
    /** The rank whose slices are written (the whole model on one process). */
    private final Partition part;
    /** A rank's sparse backing store, allocated from front to back; null on one process. */
    private final MemorySegment sparse;
    private long used;
    private final GrokWeights weights;
    private final MemorySegment embeddingTable;
    private long seed = 0x9E3779B97F4A7C15L;
    /** Grok-2's storage (bf16 {@code [out, in]}) rather than Grok-1's (int8 {@code [in, out]}). */
    private final boolean bf16;

    SyntheticModel(GrokConfig cfg, ThreadPool pool) {
        this(cfg, pool, Partition.whole(cfg));
    }

    /** @param part the rank whose slices are filled (see the class comment) */
    SyntheticModel(GrokConfig cfg, ThreadPool pool, Partition part) {
        this.pool = pool;
        this.part = part;
        this.bf16 = isGrok2(cfg);
        this.sparse = part.isWhole() ? null : sparseMapping(bytesOf(cfg));
        try {
            int d = cfg.dModel();
            int qw = cfg.queryHeads() * cfg.headDim();
            int kvw = cfg.kvHeads() * cfg.headDim();
            int ffn = cfg.expertFfn();
            MemorySegment emb = allocate((bf16 ? 2L : 4L) * cfg.vocabSize() * d, 4096);
            if (bf16) {
                fillBf16(emb, 1f, nextSeed()); // only looked up: every rank holds it whole
            } else {
                fillFloats(emb.asSlice(4L * part.vocab0() * d, 4L * part.vocab() * d), 0.02f);
            }
            List<LayerWeights> layers = new ArrayList<>();
            for (int l = 0; l < cfg.layers(); l++) {
                WeightMatrix[] gate = new WeightMatrix[cfg.experts()];
                WeightMatrix[] up = new WeightMatrix[cfg.experts()];
                WeightMatrix[] down = new WeightMatrix[cfg.experts()];
                int f0 = part.ffn0(), f1 = f0 + part.ffn();
                int hd = cfg.headDim();
                int q0 = part.kvHead0() * cfg.groupSize() * hd, q1 = q0 + part.queryHeads() * hd;
                int k0 = part.kvHead0() * hd, k1 = k0 + part.kvHeads() * hd;
                for (int e = 0; e < cfg.experts(); e++) {
                    gate[e] = matrix(d, ffn, 1, 0, d, f0, f1);
                    up[e] = matrix(d, ffn, 1, 0, d, f0, f1);
                    down[e] = matrix(ffn, d, 8, f0, f1, 0, d);
                }
                WeightMatrix router;
                if (bf16) {
                    router = matrix(d, cfg.experts(), 1, 0, d, 0, cfg.experts());
                } else {
                    MemorySegment r = allocate(4L * d * cfg.experts(), 64);
                    fillFloats(r, 0.05f);
                    router = new F32Matrix(r, d, cfg.experts(), F32Matrix.Layout.IN_OUT);
                }
                WeightMatrix denseGate = null, denseUp = null, denseDown = null;
                int g = cfg.architecture().denseFfn();
                if (g > 0) { // cut as Partition cuts it
                    int g0 = (int) ((long) g * part.rank() / part.ranks()), g1 = (int) ((long) g * (part.rank() + 1) / part.ranks());
                    denseGate = matrix(d, g, 1, 0, d, g0, g1);
                    denseUp = matrix(d, g, 1, 0, d, g0, g1);
                    denseDown = matrix(g, d, 8, g0, g1, 0, d);
                }
                layers.add(new LayerWeights(ones(d), matrix(d, qw, 1, 0, d, q0, q1), matrix(d, kvw, 1, 0, d, k0, k1),
                        matrix(d, kvw, 1, 0, d, k0, k1), matrix(qw, d, 8, q0, q1, 0, d),
                        ones(d), ones(d), router, gate, up, down, ones(d), denseGate, denseUp, denseDown));
            }
            if (bf16) { // the untied output, cut by vocabulary
                WeightMatrix output = matrix(d, cfg.vocabSize(), 1, 0, d, part.vocab0(), part.vocab0() + part.vocab());
                weights = new GrokWeights(cfg, new Bf16Embedding(emb, cfg.vocabSize(), d), ones(d), List.copyOf(layers),
                        output);
            } else {
                weights = new GrokWeights(cfg, new F32Embedding(emb, cfg.vocabSize(), d), ones(d), List.copyOf(layers));
            }
            embeddingTable = emb;
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Grok-2's storage: its architecture (float32 multipliers) rather than Grok-1's. */
    static boolean isGrok2(GrokConfig c) {
        return !c.architecture().bf16Multipliers();
    }

    /** Bytes of the whole model's storage (alignment included), for the sparse mapping. */
    static long bytesOf(GrokConfig c) {
        long d = c.dModel(), qw = (long) c.queryHeads() * c.headDim(), kvw = (long) c.kvHeads() * c.headDim();
        long f = c.expertFfn();
        if (isGrok2(c)) { // bf16 [out, in], 64-aligned
            long g = c.architecture().denseFfn();
            long perLayer = 2 * (c.experts() * 3 * d * f + 3 * d * g + d * c.experts() + 2 * d * qw + 2 * d * kvw)
                    + (3L * c.experts() + 8) * 64;
            return 2 * 2L * c.vocabSize() * d + 4096 + 64 + c.layers() * perLayer + (1 << 20);
        }
        long perLayer = c.experts() * (3 * (d * f + 64) + 2 * f + 2 * 8 * d + 4 * 64)
                + 4 * d * c.experts() + 64 + (d * qw + 2 * d * kvw + qw * d) + 2 * (qw + 2 * kvw + 8 * d) + 8 * 64 * 2;
        return 4L * c.vocabSize() * d + 4096 + c.layers() * perLayer + (1 << 20);
    }

    /** A zero-filled, not yet backed mapping of {@code bytes} (a deleted temporary file in /dev/shm or the temp dir). */
    private MemorySegment sparseMapping(long bytes) {
        java.nio.file.Path dir = java.nio.file.Files.isDirectory(java.nio.file.Path.of("/dev/shm"))
                ? java.nio.file.Path.of("/dev/shm") : java.nio.file.Path.of(System.getProperty("java.io.tmpdir"));
        try {
            java.nio.file.Path file = java.nio.file.Files.createTempFile(dir, "grok1j-bench-", ".bin");
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file,
                    java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap(new byte[1]), bytes - 1); // sparse: only this page is backed
                // mapped as the weights of a real model are (FileMapping: one segment class for the kernels to see)
                return grok1j.format.FileMapping.readWrite(file, ch, bytes, arena);
            } finally {
                java.nio.file.Files.deleteIfExists(file); // the mapping keeps the pages; nothing is left behind
            }
        } catch (java.io.IOException e) {
            arena.close();
            throw new java.io.UncheckedIOException("cannot map " + bytes + " bytes for the synthetic model in " + dir, e);
        }
    }

    /** {@code bytes} of zeroed storage aligned to {@code align}: from the sparse mapping, or the arena. */
    private MemorySegment allocate(long bytes, long align) {
        if (sparse == null) {
            return arena.allocate(bytes, align);
        }
        long at = (used + align - 1) / align * align;
        used = at + bytes;
        return sparse.asSlice(at, bytes);
    }

    GrokWeights weights() {
        return weights;
    }

    /**
     * The embedding table (Grok-1: f32, 3.2 GB at the real shape; Grok-2: bf16, 2.1 GB): a large off-heap buffer the
     * bandwidth probe can re-read.
     */
    MemorySegment embeddingTable() {
        return embeddingTable;
    }

    private static float[] ones(int d) {
        float[] v = new float[d];
        Arrays.fill(v, 1f);
        return v;
    }

    /**
     * The release's storage for {@code x @ W} with W {@code [k, n]}: int8 with g groups (Grok-1) or bf16 {@code [n, k]}
     * (Grok-2), written in input rows {@code [r0, r1)} and output columns {@code [c0, c1)} only (a rank's slice).
     */
    private WeightMatrix matrix(int k, int n, int g, int r0, int r1, int c0, int c1) {
        return bf16 ? bf16(k, n, r0, r1, c0, c1) : int8(k, n, g, r0, r1, c0, c1);
    }

    /** Random bf16 stored {@code [n, k]}; magnitudes in [2^e, 2^(e+1)), 2^e ~ 1/(2 sqrt(k)): unit-RMS in and out. */
    private BF16Matrix bf16(int k, int n, int r0, int r1, int c0, int c1) {
        MemorySegment m = allocate(2L * k * n, 64);
        long seed = nextSeed();
        float scale = (float) (1 / (2 * Math.sqrt(k)));
        if (r0 == 0 && r1 == k) {
            fillBf16(m.asSlice(2L * c0 * k, 2L * (c1 - c0) * k), scale, seed);
        } else {
            for (int c = c0; c < c1; c++) {
                fillBf16(m.asSlice(2L * ((long) c * k + r0), 2L * (r1 - r0)), scale, seed + c);
            }
        }
        return BF16Matrix.of(m, n, k);
    }

    /**
     * Random bf16 values of magnitude in [2^e, 2^(e+1)) with 2^e the power of two at or below {@code scale}: random
     * sign and mantissa bits under one exponent, four values per 64-bit word, by all pool threads.
     */
    private void fillBf16(MemorySegment m, float scale, long base) {
        long exponent = (Float.floatToRawIntBits(scale) >>> 23) & 0xFF;
        long e4 = (exponent << 7) * 0x0001_0001_0001_0001L;
        long words = m.byteSize() / 8;
        pool.run((part, parts) -> {
            long from = words * part / parts, to = words * (part + 1) / parts;
            long r = base ^ (0x5DEECE66DL * (part + 1));
            for (long i = from; i < to; i++) {
                r = xorshift(r);
                m.set(I64, i * 8, (r & 0x807F_807F_807F_807FL) | e4);
            }
        });
        for (long i = words * 4; i < m.byteSize() / 2; i++) {
            m.set(BF16, 2 * i, (short) e4);
        }
    }

    /** A bf16 {@code [vocab, d]} embedding table, rows widened exactly on lookup; never the output (untied). */
    private record Bf16Embedding(MemorySegment table, int vocab, int dim) implements Embedding {
        @Override
        public void lookup(int token, float[] out, int off) {
            long base = 2L * token * dim;
            for (int i = 0; i < dim; i++) {
                out[off + i] = BFloat16.toFloat(table.get(BF16, base + 2L * i));
            }
        }

        @Override
        public WeightMatrix unembedding() {
            return BF16Matrix.of(table, vocab, dim);
        }
    }

    /**
     * Random int8 [k, n] with g groups, written in rows {@code [r0, r1)} and columns {@code [c0, c1)} only (a rank's
     * slice); scale ~ 1/(74 sqrt(k)) so that a unit-RMS input gives unit-RMS outputs.
     */
    private Int8GroupedMatrix int8(int k, int n, int g, int r0, int r1, int c0, int c1) {
        MemorySegment q = allocate((long) k * n, 64);
        // one seed per matrix whatever the slice, so the router (drawn after) is the same on every rank
        long seed = nextSeed();
        if (c0 == 0 && c1 == n) {
            fillRandom(q.asSlice((long) r0 * n, (long) (r1 - r0) * n), seed);
        } else {
            for (int r = r0; r < r1; r++) {
                fillRandom(q.asSlice((long) r * n + c0, c1 - c0), seed + r);
            }
        }
        MemorySegment s = allocate(2L * g * n, 64);
        float base = (float) (1.0 / (74.0 * Math.sqrt(k)));
        long r = nextSeed();
        for (long i = 0; i < (long) g * n; i++) {
            r = xorshift(r);
            float v = base * (0.75f + 0.5f * ((r >>> 40) / (float) (1 << 24)));
            s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, BFloat16.fromFloat(v));
        }
        return new Int8GroupedMatrix(q, s, k, n, g);
    }

    private long nextSeed() {
        seed = xorshift(seed + 0x9E3779B97F4A7C15L);
        return seed;
    }

    private static long xorshift(long x) {
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        return x;
    }

    /** Random bytes, written 8 at a time by all pool threads. */
    private void fillRandom(MemorySegment m, long base) {
        long words = m.byteSize() / 8;
        pool.run((part, parts) -> {
            long from = words * part / parts, to = words * (part + 1) / parts;
            long r = base ^ (0x5DEECE66DL * (part + 1));
            for (long i = from; i < to; i++) {
                r = xorshift(r);
                m.set(I64, i * 8, r);
            }
        });
        for (long i = words * 8; i < m.byteSize(); i++) {
            m.set(ValueLayout.JAVA_BYTE, i, (byte) i);
        }
    }

    /** Uniform floats in [-amp, amp]. */
    private void fillFloats(MemorySegment m, float amp) {
        long base = nextSeed();
        long count = m.byteSize() / 4;
        pool.run((part, parts) -> {
            long from = count * part / parts, to = count * (part + 1) / parts;
            long r = base ^ (0x5DEECE66DL * (part + 1));
            for (long i = from; i < to; i++) {
                r = xorshift(r);
                m.set(F32, i * 4, amp * (((r >>> 40) / (float) (1 << 23)) - 1f));
            }
        });
    }

    @Override
    public void close() {
        arena.close();
    }
}
