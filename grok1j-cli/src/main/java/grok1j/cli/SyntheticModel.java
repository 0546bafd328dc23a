package grok1j.cli;

import grok1j.format.F32Embedding;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
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
 * A Grok-1-shaped model with random weights in off-heap memory, stored as the official checkpoint stores them
 * (spec §2, §3.5): int8 {@code [in, out]} with bf16 scales (G = 1 for q/k/v/gate/up, G = 8 for the attention output
 * and expert down projections), f32 router, f32 {@code [vocab, d]} tied embedding. Scales are chosen so activations
 * stay of order one. Closing it frees the memory.
 */
final class SyntheticModel implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private final Arena arena = Arena.ofShared();
    private final ThreadPool pool;
    private final GrokWeights weights;
    private final MemorySegment embeddingTable;
    private long seed = 0x9E3779B97F4A7C15L;

    SyntheticModel(GrokConfig cfg, ThreadPool pool) {
        this.pool = pool;
        try {
            int d = cfg.dModel();
            int qw = cfg.queryHeads() * cfg.headDim();
            int kvw = cfg.kvHeads() * cfg.headDim();
            int ffn = cfg.expertFfn();
            MemorySegment emb = arena.allocate(4L * cfg.vocabSize() * d, 4096);
            fillFloats(emb, 0.02f);
            List<LayerWeights> layers = new ArrayList<>();
            for (int l = 0; l < cfg.layers(); l++) {
                WeightMatrix[] gate = new WeightMatrix[cfg.experts()];
                WeightMatrix[] up = new WeightMatrix[cfg.experts()];
                WeightMatrix[] down = new WeightMatrix[cfg.experts()];
                for (int e = 0; e < cfg.experts(); e++) {
                    gate[e] = int8(d, ffn, 1);
                    up[e] = int8(d, ffn, 1);
                    down[e] = int8(ffn, d, 8);
                }
                MemorySegment router = arena.allocate(4L * d * cfg.experts(), 64);
                fillFloats(router, 0.05f);
                layers.add(new LayerWeights(ones(d), int8(d, qw, 1), int8(d, kvw, 1), int8(d, kvw, 1), int8(qw, d, 8),
                        ones(d), ones(d), new F32Matrix(router, d, cfg.experts(), F32Matrix.Layout.IN_OUT),
                        gate, up, down, ones(d)));
            }
            weights = new GrokWeights(cfg, new F32Embedding(emb, cfg.vocabSize(), d), ones(d), List.copyOf(layers));
            embeddingTable = emb;
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    GrokWeights weights() {
        return weights;
    }

    /** The f32 embedding table (3.2 GB at the real shape): a large off-heap buffer the bandwidth probe can re-read. */
    MemorySegment embeddingTable() {
        return embeddingTable;
    }

    private static float[] ones(int d) {
        float[] v = new float[d];
        Arrays.fill(v, 1f);
        return v;
    }

    /** Random int8 [k, n] with g groups; scale ~ 1/(74 sqrt(k)) so that a unit-RMS input gives unit-RMS outputs. */
    private Int8GroupedMatrix int8(int k, int n, int g) {
        MemorySegment q = arena.allocate((long) k * n, 64);
        fillRandom(q);
        MemorySegment s = arena.allocate(2L * g * n, 64);
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
    private void fillRandom(MemorySegment m) {
        long base = nextSeed();
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
