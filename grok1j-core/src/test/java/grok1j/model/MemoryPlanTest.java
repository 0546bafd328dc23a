package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.model.MemoryPlan.Machine;
import grok1j.model.MemoryPlan.Request;
import grok1j.model.MemoryPlan.Verdict;
import grok1j.model.MemoryPlan.WeightBytes;
import grok1j.tensor.WeightMatrix;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

/**
 * {@link MemoryPlan}'s arithmetic at the real sizes of Grok-1 (official int8 checkpoint, spec grok-1.md §4.3 and
 * distributed.md §2) and Grok-2 (spec grok-2.md §1), against made-up machines. Nothing is allocated: Grok-1's
 * matrices are shapes that report the official format's stored bytes and cut like the real ones.
 */
class MemoryPlanTest {
    static final long GIB = 1L << 30;
    static final long KIB = 1L << 10;

    /** An int8 {@code [in, out]} matrix with {@code groups} bf16 scale rows (the official format), or float32. */
    record Shape(int in, int out, int groups, boolean int8) implements WeightMatrix {
        @Override public int inputDim() { return in; }
        @Override public int outputDim() { return out; }
        @Override public void multiply(float[] x, int tokens, float[] y, int n0, int n1) { throw new UnsupportedOperationException(); }
        @Override public long storedBytes() { return int8 ? (long) in * out + 2L * groups * out : 4L * in * out; }
        @Override public String typeName() { return int8 ? "int8" : "f32"; }
        @Override public WeightMatrix columns(int from, int to) { return new Shape(in, to - from, groups, int8); }
        @Override public WeightMatrix rows(int from, int to) {
            return new Shape(to - from, out, Math.max(1, groups * (to - from) / in), int8);
        }
    }

    /** Grok-1 as the official checkpoint stores it: shapes and scale groups of spec distributed.md §2. */
    static GrokWeights grok1() {
        GrokConfig c = GrokConfig.grok1();
        int d = c.dModel(), f = c.expertFfn();
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            WeightMatrix[] gate = new WeightMatrix[8], up = new WeightMatrix[8], down = new WeightMatrix[8];
            Arrays.fill(gate, new Shape(d, f, 1, true));
            Arrays.fill(up, new Shape(d, f, 1, true));
            Arrays.fill(down, new Shape(f, d, 8, true));
            layers.add(new LayerWeights(new float[d], new Shape(d, 6144, 1, true), new Shape(d, 1024, 1, true),
                    new Shape(d, 1024, 1, true), new Shape(6144, d, 8, true), new float[d], new float[d],
                    new Shape(d, 8, 0, false), gate, up, down, new float[d]));
        }
        WeightMatrix table = new Shape(d, c.vocabSize(), 0, false); // f32 [vocab, d], tied
        Embedding e = new Embedding() {
            @Override public void lookup(int token, float[] out, int off) { throw new UnsupportedOperationException(); }
            @Override public WeightMatrix unembedding() { return table; }
        };
        return new GrokWeights(c, e, new float[d], layers);
    }

    static Machine machine(long total, long available) {
        return new Machine(total, available, 80_000_000_000L, 0, MemoryPlan.ASSUMED_DISK_BYTES_PER_SECOND);
    }

    static final long GROK1_NORMS = 4L * 6144 * (4 * 64 + 1);
    static final long GROK1_TABLE = 4L * 131072 * 6144;

    @Test
    void grok1OfficialSizes() {
        GrokWeights w = grok1();
        WeightBytes b = MemoryPlan.perRank(w, 0).apply(1);
        // README bench section: one decode step reads 1,296,809,984 bytes per layer (attention, router, 2 experts)
        assertEquals(64L * 1_296_809_984L, b.attention() + b.router() + b.activeExperts());
        // that is 83.76 B parameters (spec distributed.md §2) once the bf16 scales are taken out and the f32 LM head
        // counted as 4 bytes per parameter: 64 x 1,296,089,088 + 805,306,368
        long scales = 64L * (2 * (6144 + 1024 + 1024 + 8 * 6144) + 2 * 2 * (2 * 32768 + 8 * 6144));
        long params = b.attention() + b.router() - 64L * 6144 * 8 * 3 + b.activeExperts() - scales + GROK1_TABLE / 4;
        assertEquals(83_755_008_000L, params);
        assertEquals(GROK1_TABLE, b.unembedding());
        assertEquals(0, b.embedding(), "tied: the table is the unembedding");
        assertEquals(GROK1_NORMS, b.norms());
        long experts = 64L * 8 * (2 * (6144L * 32768 + 2 * 32768) + 32768L * 6144 + 2 * 8 * 6144);
        assertEquals(experts, b.experts());
        // per layer: attention 88,195,072 + router 196,608 + 8 experts x 604,209,152; ~315 GB of int8 plus the f32 embedding
        assertEquals(64L * 4_922_064_896L + GROK1_TABLE + GROK1_NORMS, b.resident());
        assertEquals(b.resident(), b.mapped());

        // KV cache: float32, 64 x 2 x 8 x 128 x 4 B = 512 KiB per position (twice spec's bf16 256 KiB), 1/N per rank
        assertEquals(512 * KIB, MemoryPlan.kvBytesPerPosition(w.config(), 1));
        assertEquals(64 * KIB, MemoryPlan.kvBytesPerPosition(w.config(), 8));
        assertEquals(4 * GIB, MemoryPlan.kvBytes(w.config(), 1, 8192, 1));

        // per rank: 1/N of attention, experts and the unembedding; router and norms replicated; the rest of the
        // embedding table mapped but read one row per token
        WeightBytes r8 = MemoryPlan.perRank(w, 0).apply(8);
        assertEquals(b.attention() / 8, r8.attention());
        assertEquals(b.experts() / 8, r8.experts());
        assertEquals(b.router(), r8.router());
        assertEquals(GROK1_TABLE / 8, r8.unembedding());
        assertEquals(GROK1_TABLE - GROK1_TABLE / 8, r8.embedding());
    }

    @Test
    void grok1Verdicts() {
        GrokWeights w = grok1();
        GrokConfig c = w.config();
        IntFunction<WeightBytes> stored = MemoryPlan.perRank(w, 0), q4k = MemoryPlan.q4kPerRank(w);
        Request one = new Request(1, 8192, 1, 0);

        // the development VM: 24 GiB
        MemoryPlan small = MemoryPlan.of(c, stored, q4k, one, machine(24 * GIB, 22 * GIB));
        assertEquals(Verdict.DOES_NOT_FIT, small.verdict());
        assertTrue(small.summary().startsWith("does not fit: one decode step reads 86.2 GB"), small.summary());
        String advice = String.join("; ", small.advice());
        // int8 needs more than 24 GiB per host even on 8 ranks; q4_k (~178 GB) on 8 hosts fits
        assertTrue(advice.contains("convert to q4_k: grok1j convert --type q4_k (a 177."), advice);
        assertTrue(advice.contains("needs 177."), "more than the 80 GB free disk: " + advice);
        assertTrue(advice.contains("then run across 8 hosts with mpirun"), advice);
        long q4kFile = q4k.apply(1).mapped();
        assertTrue(q4kFile > 177e9 && q4kFile < 178e9, "Q4_K is 4.5 bits per weight: " + q4kFile);

        // 256 GiB: decode reads experts from disk
        MemoryPlan mid = MemoryPlan.of(c, stored, q4k, one, machine(256 * GIB, 250 * GIB));
        assertEquals(Verdict.PAGE_CACHE, mid.verdict());
        WeightBytes b = stored.apply(1);
        long free = 250 * GIB - 4 * GIB - b.hot();
        long disk = Math.round(b.activeExperts() * (1 - (double) free / b.experts()));
        assertEquals(disk, mid.diskBytesPerToken());
        assertEquals(disk / 2e9, mid.secondsPerToken(), 1e-9);
        assertTrue(mid.summary().contains("at an assumed 2.0 GB/s (not measured)"), mid.summary());
        assertTrue(mid.advice().stream().anyMatch(a -> a.startsWith("run across 2 hosts with mpirun")), mid.advice().toString());

        // under mpirun on 2 such hosts it runs from RAM
        MemoryPlan two = MemoryPlan.of(c, stored, q4k, new Request(2, 8192, 1, 0), machine(256 * GIB, 250 * GIB));
        assertEquals(Verdict.RUNS_FROM_RAM, two.verdict());
        assertEquals(2 * GIB, two.kvBytes());
        assertTrue(two.advice().isEmpty());

        // 512 GiB: from RAM, until 64 parallel full-context sequences (256 GiB of KV cache) push it out
        assertEquals(Verdict.RUNS_FROM_RAM, MemoryPlan.of(c, stored, q4k, one, machine(512 * GIB, 500 * GIB)).verdict());
        MemoryPlan many = MemoryPlan.of(c, stored, q4k, new Request(1, 8192, 64, 0), machine(512 * GIB, 500 * GIB));
        assertEquals(Verdict.PAGE_CACHE, many.verdict());
        assertTrue(many.summary().contains("the weights (318.2 GB) and the KV cache (274.9 GB) together exceed"), many.summary());
        long room = 500 * GIB - b.resident();
        assertTrue(many.advice().getFirst().startsWith("--parallel " + room / (4 * GIB) + " "), many.advice().toString());
        assertTrue(many.advice().get(1).startsWith("--context " + room / (512 * KIB * 64) + " with --parallel 64"),
                many.advice().toString());
    }

    @Test
    void heapLimitAndUncuttableRankCounts() {
        GrokWeights w = grok1();
        Request one = new Request(1, 8192, 1, 0);
        // the KV cache lives on the heap: 4 GiB at full context does not fit a 2 GiB heap
        Machine smallHeap = new Machine(512 * GIB, 500 * GIB, 0, 2 * GIB, MemoryPlan.ASSUMED_DISK_BYTES_PER_SECOND);
        assertTrue(MemoryPlan.of(w.config(), MemoryPlan.perRank(w, 0), null, one, smallHeap).heapTooSmall());
        assertTrue(!MemoryPlan.of(w.config(), MemoryPlan.perRank(w, 0), null, new Request(1, 2048, 1, 0), smallHeap).heapTooSmall());
        // rank counts whose slices cannot be cut are skipped, not fatal
        IntFunction<WeightBytes> onlyTwo = n -> {
            if (n > 2) {
                throw new IllegalArgumentException("a block straddles the cut");
            }
            return MemoryPlan.perRank(w, 0).apply(n);
        };
        MemoryPlan p = MemoryPlan.of(w.config(), onlyTwo, null, one, machine(256 * GIB, 250 * GIB));
        assertTrue(p.advice().getFirst().startsWith("run across 2 hosts"), p.advice().toString());
        MemoryPlan none = MemoryPlan.of(w.config(), onlyTwo, null, one, machine(64 * GIB, 60 * GIB));
        assertEquals(List.of("no rank count up to 8 fits it in RAM on hosts like this one"), none.advice());
    }

    /**
     * Grok-2 (spec grok-2.md §1), bf16: per layer attention 150,994,944, dense MLP 805,306,368, experts
     * 3,221,225,472, router 65,536, norms 32,768 parameters; untied embedding and LM head 1,073,741,824 each.
     */
    static WeightBytes grok2(int n) {
        long layers = 64, bf16 = 2;
        return new WeightBytes(layers * 150_994_944L * bf16 / n, layers * 65_536L * bf16, (layers * 32_768L + 8192) * bf16,
                layers * 805_306_368L * bf16 / n, layers * 3_221_225_472L * bf16 / n, layers * 3_221_225_472L / 4 * bf16 / n,
                1_073_741_824L * bf16 / n, 1_073_741_824L * bf16);
    }

    @Test
    void grok2Sizes() {
        GrokConfig c = new GrokConfig(131072, 8192, 64, 64, 8, 128, 16384, 8, 2, 131072, 208533496, 1e-5,
                90.50966799187809, 0.5, 1 / Math.sqrt(128), 30, 0, 1, 2);
        assertEquals(2 * 269_515_497_472L, grok2(1).mapped()); // 539.0 GB bf16
        assertEquals(512 * KIB, MemoryPlan.kvBytesPerPosition(c, 1));
        assertEquals(64 * GIB, MemoryPlan.kvBytes(c, 1, 131072, 1));

        MemoryPlan vm = MemoryPlan.of(c, MemoryPlanTest::grok2, null, new Request(1, 131072, 1, 0), machine(24 * GIB, 22 * GIB));
        assertEquals(Verdict.DOES_NOT_FIT, vm.verdict());
        assertEquals(List.of("no rank count up to 8 fits it in RAM on hosts like this one"), vm.advice());

        // 1 TiB: the weights fit with an 8192-token context; the full 131,072 positions need 64 GiB more per sequence
        Machine big = machine(1024 * GIB, 1000 * GIB);
        assertEquals(Verdict.RUNS_FROM_RAM, MemoryPlan.of(c, MemoryPlanTest::grok2, null, new Request(1, 8192, 1, 0), big).verdict());
        MemoryPlan full = MemoryPlan.of(c, MemoryPlanTest::grok2, null, new Request(1, 131072, 8, 0), big);
        assertEquals(Verdict.PAGE_CACHE, full.verdict());
        assertTrue(full.advice().contains("run across 2 hosts with mpirun (mpirun -np 2 --hostfile HOSTS ...; "
                + MemoryPlan.gb(grok2(2).resident() + 8 * 32 * GIB) + " per host)"), full.advice().toString());
    }
}
