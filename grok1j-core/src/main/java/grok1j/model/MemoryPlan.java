package grok1j.model;

import grok1j.format.gguf.GgufConverter;
import grok1j.tensor.GgmlType;
import grok1j.tensor.WeightMatrix;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.ToLongFunction;

/**
 * Whether a model will run on this machine, and what would make it run: the memory arithmetic behind
 * {@code grok1j doctor}. Pure functions of the model's shapes ({@link GrokConfig}), its stored bytes per rank
 * ({@link WeightBytes}) and machine facts ({@link Machine}); nothing here reads a file.
 *
 * <p>The weights are memory-mapped, so they live in the page cache, not on the heap. A rank of a tensor-parallel job
 * (spec distributed.md §2) reads its own slices of attention and experts, the replicated router and norms, and its
 * vocabulary slice of the unembedding; the embedding table is mapped on every rank but read one row per token. A
 * decode step reads attention, router, norms, {@code expertsPerToken} experts per layer and the unembedding; which
 * experts changes every token, so all of them must stay in RAM for decode to run at memory speed.
 *
 * <p>Verdicts, per rank, against the memory the kernel reports available (MemAvailable):
 * <ul>
 * <li>{@link Verdict#RUNS_FROM_RAM}: all weights a rank reads, its KV cache and the prefix cache fit;</li>
 * <li>{@link Verdict#PAGE_CACHE}: the weights one decode step reads plus the caches fit, not all experts: experts
 *     not in RAM are read from disk as tokens route to them ({@link #diskBytesPerToken()});</li>
 * <li>{@link Verdict#DOES_NOT_FIT}: not even one step's weights plus the caches fit.</li>
 * </ul>
 *
 * @param config            the model's shapes
 * @param request           ranks, context, parallel sequences, prefix-cache budget
 * @param machine           this machine's memory and disk
 * @param weights           the largest rank's stored bytes at {@code request.ranks()}
 * @param kvBytes           KV cache of one rank at the requested context and parallelism (float32)
 * @param verdict           what will happen
 * @param diskBytesPerToken for {@link Verdict#PAGE_CACHE}: expected weight bytes a decode step reads from disk
 *                          (the active experts' share that is not in RAM), else 0
 * @param secondsPerToken   {@code diskBytesPerToken / machine.diskBytesPerSecond()}: disk reads alone, a lower bound
 * @param advice            flags, rank counts or quantizations that would make it run from RAM (empty if it does)
 */
public record MemoryPlan(GrokConfig config, Request request, Machine machine, WeightBytes weights, long kvBytes,
                         Verdict verdict, long diskBytesPerToken, double secondsPerToken, List<String> advice) {

    /** The disk read rate assumed when nothing is measured: a PCIe NVMe SSD's sequential read, ~2 GB/s. */
    public static final double ASSUMED_DISK_BYTES_PER_SECOND = 2e9;

    /** What will happen when the model runs. */
    public enum Verdict {
        RUNS_FROM_RAM("runs from RAM"),
        PAGE_CACHE("runs from the page cache with disk reads"),
        DOES_NOT_FIT("does not fit");

        private final String text;

        Verdict(String text) {
            this.text = text;
        }

        /** The verdict as the report says it, e.g. {@code "runs from RAM"}. */
        public String text() {
            return text;
        }
    }

    /**
     * What the user asks for.
     *
     * @param ranks            tensor-parallel ranks (hosts), dividing the KV heads
     * @param context          positions per sequence (at most the model's context)
     * @param parallel         sequences decoded together, each with its own KV cache
     * @param prefixCacheBytes RAM budget of the prefix cache shared by requests (0: none)
     */
    public record Request(int ranks, int context, int parallel, long prefixCacheBytes) {
        public Request {
            if (ranks < 1 || context < 1 || parallel < 1 || prefixCacheBytes < 0) {
                throw new IllegalArgumentException("ranks, context and parallel must be >= 1 and the prefix cache >= 0");
            }
        }
    }

    /**
     * This machine (every host of a job is assumed alike).
     *
     * @param memTotal           bytes of RAM (/proc/meminfo MemTotal)
     * @param memAvailable       bytes the kernel can give without swapping (MemAvailable: free plus reclaimable cache)
     * @param diskFree           bytes free on the file system that holds the model
     * @param heapMax            the JVM's maximum heap (the KV cache lives there), or 0 if unknown
     * @param diskBytesPerSecond assumed read rate for weights not in RAM
     */
    public record Machine(long memTotal, long memAvailable, long diskFree, long heapMax, double diskBytesPerSecond) {
    }

    /**
     * Stored bytes of one rank's weights by role.
     *
     * @param attention     query, key, value and output projections of all layers (this rank's heads)
     * @param router        routers of all layers (replicated)
     * @param norms         RMSNorm scales (replicated)
     * @param dense         a dense FFN every token runs through (Grok-2's residual MLP; 0 for Grok-1)
     * @param experts       every expert of every layer (this rank's FFN columns)
     * @param activeExperts the {@code expertsPerToken} experts of every layer one decode step reads
     * @param unembedding   this rank's vocabulary slice of the output projection
     * @param embedding     the embedding table's bytes beyond the unembedding: mapped on every rank, read one row per
     *                      token (the whole table minus the rank's slice if tied, the whole table if not)
     */
    public record WeightBytes(long attention, long router, long norms, long dense, long experts, long activeExperts,
                              long unembedding, long embedding) {

        /** Bytes a rank reads repeatedly: everything but the embedding table's rows. */
        public long resident() {
            return attention + router + norms + dense + experts + unembedding;
        }

        /** Bytes one decode step reads. */
        public long perToken() {
            return hot() + activeExperts;
        }

        /** Bytes every decode step reads whatever the routing: all but the experts. */
        public long hot() {
            return attention + router + norms + dense + unembedding;
        }

        /** Bytes the rank maps. */
        public long mapped() {
            return resident() + embedding;
        }
    }

    /**
     * KV cache bytes of one rank: float32 keys and values, {@code layers x 2 x kvHeads/ranks x headDim x 4} bytes per
     * position per sequence (spec grok-2.md §1: 512 KiB per position for Grok-1 and Grok-2 on one rank).
     */
    public static long kvBytes(GrokConfig cfg, int ranks, int context, int parallel) {
        return kvBytesPerPosition(cfg, ranks) * context * parallel;
    }

    /** KV cache bytes of one position of one sequence on one of {@code ranks} ranks. */
    public static long kvBytesPerPosition(GrokConfig cfg, int ranks) {
        return (long) cfg.layers() * 2 * (cfg.kvHeads() / ranks) * cfg.headDim() * Float.BYTES;
    }

    /**
     * The largest rank's stored bytes at N ranks ({@link Partition#of}{@code (cfg, r, N).slice(weights)} for every
     * {@code r}, matrices counted by {@link WeightMatrix#storedBytes()}, norms as float32). Slicing makes views only:
     * no weight byte is read.
     *
     * @param weights             the whole model
     * @param untiedEmbeddingBytes bytes of an embedding table that is not the unembedding (a GGUF with its own
     *                             {@code output.weight}), or 0 if the two are tied (Grok-1)
     */
    public static IntFunction<WeightBytes> perRank(GrokWeights weights, long untiedEmbeddingBytes) {
        WeightMatrix table = weights.embedding().unembedding();
        // an untied model (Grok-2's lm_head) reads the whole table row by row only; a tied one reads its slice in full
        return n -> largest(weights, n, WeightMatrix::storedBytes, WeightMatrix::storedBytes,
                slice -> untiedEmbeddingBytes > 0 ? untiedEmbeddingBytes
                        : weights.output() != null ? table.storedBytes()
                        : table.storedBytes() - slice.unembedding().storedBytes());
    }

    /**
     * As {@link #perRank} after {@code grok1j convert --type q4_k}: matrices as {@link GgufConverter#choose} writes
     * them (Q4_K, or F16 where a block does not fit), the router F32, the embedding tied.
     */
    public static IntFunction<WeightBytes> q4kPerRank(GrokWeights weights) {
        GrokConfig c = weights.config();
        GgmlType embType = GgufConverter.embeddingType(GgmlType.Q4_K, c.dModel());
        long table = embType.bytesFor((long) c.dModel() * c.vocabSize());
        ToLongFunction<WeightMatrix> q4k = m -> GgufConverter.choose(GgmlType.Q4_K, m).bytesFor((long) m.inputDim() * m.outputDim());
        ToLongFunction<WeightMatrix> f32 = m -> 4L * m.inputDim() * m.outputDim();
        return n -> {
            WeightBytes w = largest(weights, n, q4k, f32, slice -> 0);
            long unembed = embType.bytesFor((long) c.dModel() * slice(c, n).vocab());
            return new WeightBytes(w.attention(), w.router(), w.norms(), w.dense(), w.experts(), w.activeExperts(),
                    unembed, table - unembed);
        };
    }

    private static Partition slice(GrokConfig c, int ranks) {
        return Partition.of(c, 0, ranks);
    }

    private static WeightBytes largest(GrokWeights whole, int ranks, ToLongFunction<WeightMatrix> bytes,
                                       ToLongFunction<WeightMatrix> routerBytes, ToLongFunction<GrokWeights> embedding) {
        WeightBytes max = null;
        for (int r = 0; r < ranks; r++) {
            GrokWeights w = Partition.of(whole.config(), r, ranks).slice(whole);
            WeightBytes b = count(w, bytes, routerBytes, embedding.applyAsLong(w));
            if (max == null || b.resident() > max.resident()) {
                max = b;
            }
        }
        return max;
    }

    private static WeightBytes count(GrokWeights w, ToLongFunction<WeightMatrix> bytes,
                                     ToLongFunction<WeightMatrix> routerBytes, long embedding) {
        long attention = 0, router = 0, norms = 4L * w.finalNorm().length, dense = 0, experts = 0, active = 0;
        int k = w.config().expertsPerToken();
        for (LayerWeights l : w.layers()) {
            attention += bytes.applyAsLong(l.query()) + bytes.applyAsLong(l.key()) + bytes.applyAsLong(l.value())
                    + bytes.applyAsLong(l.attnOutput());
            router += routerBytes.applyAsLong(l.router());
            norms += 4L * (l.attnNorm().length + l.postAttnNorm().length + l.preMoeNorm().length + l.postMoeNorm().length);
            long[] expert = new long[l.gate().length];
            for (int e = 0; e < expert.length; e++) {
                expert[e] = bytes.applyAsLong(l.gate()[e]) + bytes.applyAsLong(l.up()[e]) + bytes.applyAsLong(l.down()[e]);
                experts += expert[e];
            }
            if (l.denseGate() != null) {
                dense += bytes.applyAsLong(l.denseGate()) + bytes.applyAsLong(l.denseUp()) + bytes.applyAsLong(l.denseDown());
            }
            // experts of a layer have the same shapes; the largest k bound what a step reads
            java.util.Arrays.sort(expert);
            for (int e = 0; e < k; e++) {
                active += expert[expert.length - 1 - e];
            }
        }
        return new WeightBytes(attention, router, norms, dense, experts, active, bytes.applyAsLong(w.unembedding()), embedding);
    }

    /**
     * Plans a run.
     *
     * @param cfg     the model's shapes
     * @param perRank the largest rank's bytes at N ranks, for every N dividing the KV heads (in the stored format)
     * @param q4k     the same after {@code grok1j convert --type q4_k}, or null if that would not shrink the model
     * @param request ranks, context, parallelism, prefix cache
     * @param machine this machine
     * @throws IllegalArgumentException if the rank count does not divide the KV heads or the context exceeds the
     *                                  model's
     */
    public static MemoryPlan of(GrokConfig cfg, IntFunction<WeightBytes> perRank, IntFunction<WeightBytes> q4k,
                                Request request, Machine machine) {
        if (cfg.kvHeads() % request.ranks() != 0) {
            throw new IllegalArgumentException(request.ranks() + " ranks do not divide the " + cfg.kvHeads() + " KV heads");
        }
        if (request.context() > cfg.contextLength()) {
            throw new IllegalArgumentException("context " + request.context() + " exceeds the model's " + cfg.contextLength());
        }
        WeightBytes w = perRank.apply(request.ranks());
        long kv = kvBytes(cfg, request.ranks(), request.context(), request.parallel());
        long caches = kv + request.prefixCacheBytes();
        Verdict v = verdict(w, caches, machine.memAvailable());
        long disk = 0;
        double seconds = 0;
        if (v == Verdict.PAGE_CACHE) {
            // the hot weights stay cached (every step touches them); the experts share what RAM is left, and a token
            // routed to an expert that is not cached reads it from disk
            long forExperts = Math.max(0, machine.memAvailable() - caches - w.hot());
            double cached = w.experts() == 0 ? 1 : Math.min(1, (double) forExperts / w.experts());
            disk = Math.round(w.activeExperts() * (1 - cached));
            seconds = disk / machine.diskBytesPerSecond();
        }
        List<String> advice = v == Verdict.RUNS_FROM_RAM ? List.of() : advise(cfg, perRank, q4k, request, machine, w);
        return new MemoryPlan(cfg, request, machine, w, kv, v, disk, seconds, advice);
    }

    private static Verdict verdict(WeightBytes w, long caches, long available) {
        if (w.resident() + caches <= available) {
            return Verdict.RUNS_FROM_RAM;
        }
        return w.perToken() + caches <= available ? Verdict.PAGE_CACHE : Verdict.DOES_NOT_FIT;
    }

    /** What would make the run fit in RAM, the cheapest change first. */
    private static List<String> advise(GrokConfig cfg, IntFunction<WeightBytes> perRank, IntFunction<WeightBytes> q4k,
                                       Request req, Machine m, WeightBytes w) {
        List<String> out = new ArrayList<>();
        long room = m.memAvailable() - w.resident() - req.prefixCacheBytes();
        long perPosition = kvBytesPerPosition(cfg, req.ranks());
        if (room > 0) {
            // the weights fit: a shorter context or fewer parallel sequences would leave the KV cache room
            long ctx = room / (perPosition * req.parallel());
            long par = room / (perPosition * req.context());
            if (par >= 1 && par < req.parallel()) {
                out.add("--parallel " + par + " (KV cache " + gb(perPosition * req.context() * par) + ")");
            }
            if (ctx >= 1 && ctx < req.context()) {
                out.add("--context " + ctx + (req.parallel() > 1 ? " with --parallel " + req.parallel() : "")
                        + " (KV cache " + gb(perPosition * ctx * req.parallel()) + ")");
            }
        }
        String ranks = firstFit(cfg, perRank, req, m);
        if (ranks != null) {
            out.add(ranks);
        }
        if (q4k != null) {
            long size = q4k.apply(1).mapped();
            String disk = size > m.diskFree() ? ", needs " + gb(size) + " of disk, " + gb(m.diskFree()) + " free" : "";
            String q = firstFit(cfg, q4k, req, m);
            if (q != null) {
                out.add("convert to q4_k: grok1j convert --type q4_k (a " + gb(size) + " file" + disk + ")"
                        + (q.startsWith("run across") ? ", then " + q : ""));
            } else {
                out.add("even q4_k (a " + gb(size) + " file) does not fit in RAM on " + maxRanks(cfg)
                        + " hosts like this one" + disk);
            }
        }
        if (ranks == null && q4k == null) {
            out.add("no rank count up to " + maxRanks(cfg) + " fits it in RAM on hosts like this one");
        }
        return out;
    }

    /** "run across N hosts ..." for the fewest ranks above the request's that run from RAM, or null. */
    private static String firstFit(GrokConfig cfg, IntFunction<WeightBytes> perRank, Request req, Machine m) {
        for (int n = 1; n <= cfg.kvHeads(); n++) {
            if (cfg.kvHeads() % n != 0 || n < req.ranks()) {
                continue;
            }
            WeightBytes w;
            try {
                w = perRank.apply(n);
            } catch (IllegalArgumentException e) {
                continue; // the weights cannot be cut into n slices (e.g. a quantization block straddles the cut)
            }
            long kv = kvBytes(cfg, n, req.context(), req.parallel());
            if (verdict(w, kv + req.prefixCacheBytes(), m.memAvailable()) == Verdict.RUNS_FROM_RAM) {
                return n == req.ranks() ? "as is" : "run across " + n + " hosts with mpirun (mpirun -np " + n
                        + " --hostfile HOSTS ...; " + gb(w.resident() + kv) + " per host)";
            }
        }
        return null;
    }

    private static int maxRanks(GrokConfig cfg) {
        return cfg.kvHeads();
    }

    /** The verdict in one sentence, e.g. {@code "does not fit: one decode step reads 86.2 GB ..."}. */
    public String summary() {
        String perHost = request.ranks() > 1 ? " per host" : "";
        return switch (verdict) {
            case RUNS_FROM_RAM -> "runs from RAM: the weights (" + gb(weights.resident()) + perHost + ") and the KV cache ("
                    + gb(kvBytes) + ") fit in the " + gb(machine.memAvailable()) + " available";
            case PAGE_CACHE -> String.format("runs from the page cache with disk reads: the weights (%s%s)%s exceed the %s available; "
                            + "a decode step reads ~%s of experts from disk, ~%.1f s per token at an assumed %.1f GB/s (not measured)",
                    gb(weights.resident()), perHost,
                    weights.resident() <= machine.memAvailable() ? " and the KV cache (" + gb(kvBytes) + ") together" : "",
                    gb(machine.memAvailable()), gb(diskBytesPerToken), secondsPerToken, machine.diskBytesPerSecond() / 1e9);
            case DOES_NOT_FIT -> "does not fit: one decode step reads " + gb(weights.perToken()) + perHost
                    + " of weights, which with the KV cache (" + gb(kvBytes) + ") exceeds the " + gb(machine.memAvailable())
                    + " available";
        };
    }

    /**
     * {@code serve}'s default prefix-cache budget ({@link PrefixCache}): a quarter of the RAM left once the weights
     * and the slots' full KV caches are resident, and at most half of the JVM heap those KV caches leave (blocks live
     * on the heap); 0 when nothing is left.
     *
     * @param kvBytes the slots' KV caches at full context ({@link #kvBytes})
     */
    public static long defaultPrefixCacheBytes(WeightBytes weights, long kvBytes, Machine machine) {
        long bytes = Math.max(0, machine.memAvailable() - weights.resident() - kvBytes) / 4;
        if (machine.heapMax() > 0) {
            bytes = Math.min(bytes, Math.max(0, machine.heapMax() - kvBytes) / 2);
        }
        return bytes;
    }

    /** True if the KV and prefix caches can outgrow the JVM's maximum heap (where they live). */
    public boolean heapTooSmall() {
        return machine.heapMax() > 0 && kvBytes + request.prefixCacheBytes() > machine.heapMax();
    }

    /** Bytes in decimal units with one decimal, e.g. {@code "86.2 GB"}, {@code "12.6 MB"}, {@code "1.5 kB"}. */
    public static String gb(long bytes) {
        if (bytes >= 1_000_000_000L || bytes <= -1_000_000_000L) {
            return String.format("%.1f GB", bytes / 1e9);
        }
        if (Math.abs(bytes) >= 1_000_000L) {
            return String.format("%.1f MB", bytes / 1e6);
        }
        return Math.abs(bytes) >= 1000 ? String.format("%.1f kB", bytes / 1e3) : bytes + " bytes";
    }
}
