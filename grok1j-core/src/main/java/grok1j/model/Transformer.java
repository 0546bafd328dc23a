package grok1j.model;

import grok1j.parallel.Communicator;
import grok1j.tensor.AttentionKernels;
import grok1j.tensor.ErfGelu;
import grok1j.tensor.Kernels;
import grok1j.tensor.MatmulList;
import grok1j.tensor.TanhGelu;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.util.Arrays;
import java.util.List;

/**
 * The forward pass of the Grok family (grok-1 spec §3, grok-2 spec §2), in float32 as the engine-numerics boxes
 * prescribe: no intermediate bf16 roundings. The blocks live here once; what a family member does differently is
 * its {@link Architecture} (in {@link GrokConfig#architecture()}).
 *
 * <pre>
 * h = E[tokens] * embedding multiplier                 (Grok-1: bf16(78.38) = 78.5; Grok-2: f32(90.51))
 * per layer:  h += RMSNorm_1( Attention( RMSNorm_0(h) ) )        sandwich norms, §3.3
 *             m  = RMSNorm_2(h)
 *             h += RMSNorm_3( MoE(m) )                                    Grok-1
 *             h += RMSNorm_3( (MoE(m) + DenseMLP(m)) / sqrt(2) )          Grok-2 (residual MoE)
 * logits = RMSNorm_final(h) @ U * output multiplier    U = E^T (tied, Grok-1) or lm_head^T (Grok-2)
 * logits = c * tanh(logits / c)                        Grok-2 only (final cap c = 50)
 * </pre>
 *
 * Attention logits are scaled, soft-capped, then (Grok-2, query position p > L) multiplied by
 * {@code log2(p)/log2(L)}, masked (the future; Grok-1 also padding keys) and softmaxed. The router takes the top-k
 * of the softmax over all experts without renormalising; Grok-2 first caps the router logits at 30.
 *
 * Prefill (many tokens) and decode (one token) are the same {@link #forward} call. The MoE computes only the
 * top-2 experts of each token and groups a chunk's tokens by expert so that each expert's weights are read once.
 *
 * <p>Tensor parallel (spec distributed.md): with a {@link Communicator} of N ranks, each rank's instance computes its
 * {@link Partition} of every layer (its KV heads and query heads, its FFN columns of every expert, its vocabulary
 * slice of the unembedding); the attention output and the expert down projections give partial sums that one
 * all-reduce each adds across the ranks, bit-identically on every rank. Rank 0 is the leader: its {@link #forward}
 * first broadcasts what the call runs, and the other ranks, in {@link #follow()}, run the same call on their caches.
 * Only rank 0 gets logits.
 *
 * <p>Forward calls are serialised per instance ({@link #forward(List)} is synchronized): activation buffers are kept in
 * the instance and reused, so a decode step allocates nothing but its logits. In the last layer only the positions
 * whose logits were asked for run past the key/value projections (their keys and values still enter the cache).
 */
public final class Transformer {
    private final GrokConfig cfg;
    /** This rank's weights: the whole model, or views of its {@link #partition}'s slices. */
    private final GrokWeights weights;
    private final ThreadPool pool;
    private final Communicator comm;
    private final Partition partition;
    /** Query heads, KV heads and expert FFN columns this rank computes (all of them on one process). */
    private final int queryHeads, kvHeads, ffn;
    /** Rank 0's broadcast of each call (null on one process). */
    private final Lockstep lockstep;
    private final float embeddingMultiplier;
    private final float outputMultiplier;
    private final float attnScale;
    private final float softcap;
    private final Architecture arch;
    /** f32(1 / log2(L)) for the attention temperature, or 0 when it is off. */
    private final float inverseLog2TemperatureLength;
    private final float eps;
    private final float[] invFreq;
    // reusable per-model state: no allocation per layer or per matmul
    private final MatmulList matmuls = new MatmulList();
    private final Scratch scratch = new Scratch();
    private final AttentionJob attention = new AttentionJob();
    private final GeluJob gelu = new GeluJob();
    // per layer, the query and attention output projections cut into halves of their input rows (or null): in a
    // decode step each is the only product of its kind, and column ranges of one [in, out] matrix would give each
    // thread every row in short pieces (~40-50 % of the bandwidth with 2 threads against ~80 % for whole halves)
    private final WeightMatrix[][] queryHalves;
    private final WeightMatrix[][] outputHalves;
    private Timings timings;
    private int lastRows;
    /** The leading rows of the current call (of those still live) that are prompt rows (see {@link Step}). */
    private int promptRows;
    /** True during {@link #locateNonFinite}: every sub-step's output is checked ({@link #probe}). */
    private boolean probing;

    /** The whole model in this process. @throws IllegalArgumentException if the weights' shapes disagree with their config */
    public Transformer(GrokWeights weights, ThreadPool pool) {
        this(weights, pool, Communicator.single());
    }

    /**
     * This rank's part of a tensor-parallel model: {@code weights} is the whole model (views over mapped files), of
     * which only the slices of {@link Partition#of}{@code (config, comm.rank(), comm.size())} are kept and ever
     * touched.
     *
     * @throws IllegalArgumentException if the weights' shapes disagree with their config, or the model cannot be
     *                                  split over {@code comm.size()} ranks (the message names what would work)
     */
    public Transformer(GrokWeights weights, ThreadPool pool, Communicator comm) {
        this(Slice.of(weights, comm.rank(), comm.size()), pool, comm);
    }

    /** A rank's partition and its weights, shapes checked on the whole model before it was cut. */
    private record Slice(Partition partition, GrokWeights weights) {
        static Slice of(GrokWeights whole, int rank, int ranks) {
            checkShapes(whole.config(), whole);
            Partition p = Partition.of(whole.config(), rank, ranks);
            return new Slice(p, p.slice(whole));
        }
    }

    private Transformer(Slice slice, ThreadPool pool, Communicator comm) {
        Partition partition = slice.partition();
        GrokWeights local = slice.weights();
        this.cfg = local.config();
        this.partition = partition;
        this.comm = comm;
        this.queryHeads = partition.queryHeads();
        this.kvHeads = partition.kvHeads();
        this.ffn = partition.ffn();
        this.weights = local;
        this.pool = pool;
        this.lockstep = comm.size() == 1 ? null : new Lockstep(comm, this);
        this.embeddingMultiplier = cfg.effectiveEmbeddingMultiplier();
        this.outputMultiplier = cfg.effectiveOutputMultiplier();
        this.attnScale = (float) cfg.attnOutputMultiplier();
        this.softcap = (float) cfg.attnSoftcap();
        this.arch = cfg.architecture();
        double len = arch.attnTemperatureLength();
        this.inverseLog2TemperatureLength = len > 0 ? (float) (1 / log2(len)) : 0f;
        this.eps = (float) cfg.rmsEps();
        this.invFreq = ropeInverseFrequencies(cfg);
        int n = weights.layers().size();
        this.queryHalves = new WeightMatrix[n][];
        this.outputHalves = new WeightMatrix[n][];
        for (int i = 0; i < n; i++) {
            queryHalves[i] = weights.layers().get(i).query().inputHalves();
            outputHalves[i] = weights.layers().get(i).attnOutput().inputHalves();
        }
    }

    public GrokConfig config() {
        return cfg;
    }

    /** The compute threads this model runs on. */
    public ThreadPool pool() {
        return pool;
    }

    /** This rank's weights (the whole model on one process; views of this rank's slices in a tensor-parallel job). */
    public GrokWeights weights() {
        return weights;
    }

    /** What this rank computes. */
    public Partition partition() {
        return partition;
    }

    /** The ranks this model is spread over ({@link Communicator#single()} on one process). */
    public Communicator communicator() {
        return comm;
    }

    /**
     * This rank's part of the first {@code n} layers as a model of its own that runs without collectives, for warming
     * the kernels up on the real weights ({@link KernelWarmup}); in a tensor-parallel job its logits cover only this
     * rank's vocabulary slice.
     */
    public Transformer localLayers(int n) {
        GrokWeights w = new GrokWeights(cfg.withLayers(n), weights.embedding(), weights.finalNorm(), weights.layers().subList(0, n),
                weights.output());
        return new Transformer(new Slice(partition, w), pool, Communicator.single());
    }

    /** A new, empty KV cache for one sequence, holding this rank's KV heads. */
    public KvCache newCache() {
        KvCache c = new KvCache(cfg, kvHeads);
        if (lockstep != null) {
            lockstep.track(c);
        }
        return c;
    }

    /** Which positions of a forward call need logits. */
    public enum Logits { NONE, LAST, ALL }

    /**
     * One sequence's part of a forward call: {@code count} new tokens appended to its own KV cache.
     *
     * <p>Prompt rows ({@code prompt}) run every product with the batch arithmetic
     * ({@link WeightMatrix#multiplyBatch}), so a prompt position's keys, values and logits are bit for bit the same
     * however the prompt is cut into chunks, whatever else is in the batch, and whether its start came from a
     * {@link PrefixCache}. Decode rows (one generated token each) use the decode kernels.
     *
     * @param tokens ids, {@code tokens[offset, offset+count)}; each in {@code [0, vocab)}
     * @param cache  the sequence's KV cache; its length grows by {@code count}
     * @param which  which of these positions need logits
     * @param prompt whether these are prompt positions (prefill) rather than generated tokens
     */
    public record Step(int[] tokens, int offset, int count, KvCache cache, Logits which, boolean prompt) {
        public Step {
            if (count <= 0 || offset < 0 || offset + count > tokens.length) {
                throw new IllegalArgumentException("a step needs at least one token, got [" + offset + ", " + (offset + count) + ")");
            }
        }

        /** A step that is prompt (prefill) when it holds more than one token, else a decode step. */
        public Step(int[] tokens, int offset, int count, KvCache cache, Logits which) {
            this(tokens, offset, count, cache, which, count > 1);
        }
    }

    /**
     * Runs the model over {@code count} new tokens of one sequence; see {@link #forward(List)}.
     *
     * @return {@code [count, vocab]} for {@link Logits#ALL}, {@code [vocab]} for {@link Logits#LAST}, empty for NONE;
     *         raw logits after the output multiplier
     */
    public float[] forward(int[] tokens, int offset, int count, KvCache cache, Logits which) {
        return forward(List.of(new Step(tokens, offset, count, cache, which))).getFirst();
    }

    /**
     * Allocates, now, this process's scratch for forward calls of up to {@code rows} positions, the expert buffers of
     * the prompt path included. Otherwise the first call that long allocates them, and fresh memory costs page
     * faults: about 0.5-1 s in the first 512-token prefill of a Grok-1 layer on a 2-core VM. {@code grok1j bench}
     * calls this before timing a prefill, as llama-bench runs an untimed warm-up pass.
     *
     * @param rows positions (prompt tokens and decode steps) of one forward call, at least 1
     */
    public synchronized void reserve(int rows) {
        if (rows < 1) {
            throw new IllegalArgumentException("rows must be at least 1, got " + rows);
        }
        scratch.ensure(rows).expertBuffers(0, rows, rows);
    }

    /**
     * Runs one forward pass over a batch of sequences, each with its own KV cache: their tokens share every weight
     * read (prefill of one prompt, a decode step of many sequences, or a mix). Results do not depend on what else is
     * in the batch.
     *
     * <p>In a tensor-parallel job only rank 0 calls this: the call is broadcast to the other ranks, which run it in
     * {@link #follow()}.
     *
     * @return per step, its logits as in {@link #forward(int[], int, int, KvCache, Logits)}
     * @throws IllegalArgumentException for an id outside the vocabulary, or the same cache twice in one batch
     * @throws IllegalStateException    if a cache would exceed the context length (nothing is changed then), or
     *                                  this is not rank 0
     * @throws grok1j.parallel.CommunicatorException if another rank failed
     */
    public synchronized List<float[]> forward(List<Step> steps) {
        if (comm.rank() != 0) {
            throw new IllegalStateException("rank " + partition.rank() + " follows rank 0's forward calls (follow()), it does not make its own");
        }
        int rows = 0;
        for (Step st : steps) {
            for (int i = st.offset(); i < st.offset() + st.count(); i++) {
                if (st.tokens()[i] < 0 || st.tokens()[i] >= cfg.vocabSize()) {
                    throw new IllegalArgumentException("token id " + st.tokens()[i] + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
                }
            }
            if (st.cache().rowWidth() != kvHeads * cfg.headDim()) {
                throw new IllegalArgumentException("a KV cache of " + st.cache().rowWidth() / cfg.headDim()
                        + " KV heads given to a model part with " + kvHeads + " (make caches with newCache())");
            }
            if ((long) st.cache().length() + st.count() > st.cache().capacity()) {
                throw new IllegalStateException("KV cache full: " + st.cache().length() + " + " + st.count()
                        + " positions exceed the context of " + st.cache().capacity());
            }
            rows += st.count();
        }
        for (int i = 0; i < steps.size(); i++) {
            for (int j = 0; j < i; j++) {
                if (steps.get(i).cache() == steps.get(j).cache()) {
                    throw new IllegalArgumentException("the same KV cache appears twice in one batch");
                }
            }
        }
        if (lockstep != null) {
            lockstep.lead(steps);
        }
        return compute(steps, rows);
    }

    /**
     * Rank {@code r > 0} of a tensor-parallel job: runs every forward call rank 0 makes, on this rank's slices and
     * caches, until rank 0 calls {@link #stopFollowers()}. Returns at once on a single process.
     *
     * @throws grok1j.parallel.CommunicatorException if another rank failed
     * @throws IllegalStateException if the calls broadcast by rank 0 do not fit this rank's caches (a protocol error)
     */
    public void follow() {
        follow(null);
    }

    /** {@link #follow()}, running {@code afterEachCall} after each call (per-call timings, tests comparing ranks). */
    public void follow(Runnable afterEachCall) {
        if (lockstep == null) {
            return;
        }
        if (partition.rank() == 0) {
            throw new IllegalStateException("rank 0 leads; only the other ranks follow");
        }
        for (List<Step> steps; (steps = lockstep.next()) != null; ) {
            synchronized (this) {
                int rows = 0;
                for (Step st : steps) {
                    rows += st.count();
                }
                compute(steps, rows);
                if (afterEachCall != null) {
                    afterEachCall.run();
                }
            }
        }
    }

    /** The residual stream {@code h} of the rows that reached the end of the last call (tests compare it across ranks). */
    synchronized float[] lastResidual() {
        return Arrays.copyOf(scratch.h, lastRows * cfg.dModel());
    }

    /** Rank 0: ends the other ranks' {@link #follow()} (at the end of a command). No-op on one process. */
    public synchronized void stopFollowers() {
        if (lockstep != null && partition.rank() == 0) {
            lockstep.stop();
        }
    }

    /**
     * The guard rail after a forward call: checks the logits rows a step returned (one scan of the rows it asked for,
     * nothing else) and, if any holds NaN or an infinity, re-runs the sequence with per-sub-step checks
     * ({@link #locateNonFinite}) to name where the activations first went non-finite.
     *
     * @param logits the step's logits, {@code [rows, vocab]} (empty when it asked for none)
     * @param cache  the step's cache, after the call (its last {@code rows} positions produced the rows for
     *               {@link Logits#ALL}; its last position for {@link Logits#LAST})
     * @throws NonFiniteException naming the position and, on one process, the layer and tensor
     */
    public void requireFinite(float[] logits, KvCache cache, Logits which) {
        int vocab = cfg.vocabSize();
        int rows = logits.length / vocab;
        for (int r = 0; r < rows; r++) {
            if (NonFiniteException.anyNonFinite(logits, r * vocab, vocab)) {
                int position = cache.length() - rows + r;
                String where = locateNonFinite(cache, which);
                throw new NonFiniteException("the logits at position " + position + " are not finite (NaN or infinite)"
                        + (where != null ? ": the activations first went non-finite in " + where
                        : comm.size() > 1 ? " (the per-layer re-run that names the tensor runs on a single process"
                        + " only: run without mpirun to find it)"
                        : " (a per-layer re-run found every activation finite)")
                        + "; check the weights with grok1j inspect --check", where);
            }
        }
    }

    /**
     * Re-runs the tokens of {@code cache} on a fresh cache (the original is untouched), checking the output of every
     * sub-step (embedding, each norm, projection, the router, each expert's gate, up and down projections, the
     * unembedding) for NaN or infinities. Numerics are those of the normal pass. Single process only.
     *
     * @param which the logits the failing steps asked for (the last layer computes only those rows)
     * @return where the activations first went non-finite, e.g. {@code "layer 3 expert 5 down projection"}; null if
     *         everything stayed finite or this is a tensor-parallel job
     */
    public synchronized String locateNonFinite(KvCache cache, Logits which) {
        if (comm.size() > 1) {
            return null; // the followers would need to check their slices too
        }
        int length = cache.length();
        int[] tokens = new int[length];
        for (int i = 0; i < length; i++) {
            tokens[i] = cache.token(i);
        }
        KvCache fresh = new KvCache(cfg, kvHeads);
        probing = true;
        try {
            for (int at = 0; at < length; at += DIAGNOSIS_CHUNK) {
                int n = Math.min(DIAGNOSIS_CHUNK, length - at);
                Logits w = at + n == length || which == Logits.ALL ? which : Logits.NONE;
                compute(List.of(new Step(tokens, at, n, fresh, w)), n);
            }
            return null;
        } catch (Found f) {
            return f.where;
        } finally {
            probing = false;
        }
    }

    /** Positions per forward call of a diagnosis re-run (bounds its activation memory like a prefill chunk). */
    private static final int DIAGNOSIS_CHUNK = 256;

    /** Ends a diagnosis re-run at the first sub-step whose output holds NaN or an infinity. */
    private static void probe(float[] a, int n, String where) {
        if (NonFiniteException.anyNonFinite(a, 0, n)) {
            throw new Found(where);
        }
    }

    private static final class Found extends RuntimeException {
        final String where;

        Found(String where) {
            super(where, null, false, false);
            this.where = where;
        }
    }

    private List<float[]> compute(List<Step> given, int rows) {
        long t0 = System.nanoTime();
        Scratch sc = scratch.ensure(rows);
        // prompt steps first: rows [0, promptRows) take the batch arithmetic (see Step)
        List<Step> steps = new java.util.ArrayList<>(given.size());
        int[] order = new int[given.size()];
        promptRows = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < given.size(); i++) {
                Step st = given.get(i);
                if (st.prompt() == (pass == 0)) {
                    order[steps.size()] = i;
                    steps.add(st);
                    if (pass == 0) {
                        promptRows += st.count();
                    }
                }
            }
        }
        int r = 0;
        int needed = 0;
        for (Step st : steps) {
            int start = st.cache().reserve(st.tokens(), st.offset(), st.count());
            for (int t = 0; t < st.count(); t++, r++) {
                sc.cache[r] = st.cache();
                sc.position[r] = start + t;
                boolean want = st.which() == Logits.ALL || (st.which() == Logits.LAST && t == st.count() - 1);
                if (want) {
                    sc.keep[needed++] = r;
                }
            }
        }
        int d = cfg.dModel();
        float[] h = sc.h;
        r = 0;
        for (Step st : steps) {
            for (int t = 0; t < st.count(); t++, r++) {
                weights.embedding().lookup(st.tokens()[st.offset() + t], h, r * d);
            }
        }
        for (int i = 0; i < rows * d; i++) {
            h[i] *= embeddingMultiplier;
        }
        if (probing) {
            probe(h, rows * d, "the token embedding");
        }
        ropeTable(sc, rows);
        Timings tm = timings;
        if (tm != null) {
            tm.rows = rows;
            tm.embedNanos = System.nanoTime() - t0;
        }
        int live = rows;
        for (int l = 0; l < cfg.layers(); l++) {
            long l0 = System.nanoTime();
            LayerWeights lw = weights.layers().get(l);
            boolean last = l == cfg.layers() - 1;
            live = attentionBlock(lw, l, live, last ? needed : -1);
            if (live > 0) {
                moeBlock(lw, l, live);
            }
            if (tm != null) {
                tm.layerNanos[l] = System.nanoTime() - l0;
            }
        }
        lastRows = live;
        // after the last layer, rows [0, needed) of h are the positions that asked for logits, in batch order
        long u0 = System.nanoTime();
        float[][] out = new float[steps.size()][];
        float[] logits = needed > 0 ? unembed(sc, needed) : null;
        int vocab = comm.size() == 1 ? partition.vocab() : cfg.vocabSize(); // (a local copy: its slice)
        int at = 0;
        int si = 0;
        for (Step st : steps) {
            st.cache().commit(st.count());
            int n = switch (st.which()) {
                case NONE -> 0;
                case LAST -> 1;
                case ALL -> st.count();
            };
            out[order[si++]] = n == 0 || logits == null ? new float[0]
                    : needed == n ? logits : java.util.Arrays.copyOfRange(logits, at * vocab, (at + n) * vocab);
            at += n;
        }
        if (tm != null) {
            tm.unembedNanos = System.nanoTime() - u0;
            tm.totalNanos = System.nanoTime() - t0;
        }
        return Arrays.asList(out);
    }

    /**
     * Optional wall-clock breakdown of the last {@link #forward} call (for {@code grok1j bench}); off by default.
     * {@code layerNanos[l]} is layer {@code l}; the last layer computes only the positions that asked for logits.
     */
    public static final class Timings {
        public final long[] layerNanos;
        public int rows;
        public long embedNanos;
        public long unembedNanos;
        public long totalNanos;

        public Timings(int layers) {
            layerNanos = new long[layers];
        }
    }

    /** Records per-layer times of later forward calls (followed ones too) into {@code t} (null stops recording). */
    public synchronized void recordTimings(Timings t) {
        this.timings = t;
    }

    /**
     * Activation buffers of one forward call, kept between calls and grown (never shrunk) to the largest batch seen,
     * so a decode step allocates nothing but its logits.
     */
    private final class Scratch {
        int rows = -1;
        float[] h, x, q, k, v, o, branch, probs, gates, cos, sin;
        /** Input halves and partial outputs of a product split by {@link WeightMatrix#inputHalves()}. */
        float[] xTop, xBottom, yTop, yBottom;
        int[] position, chosen, keep;
        /** Per expert, how many of its members are prompt rows. */
        int[] promptMembers;
        KvCache[] cache;
        // per expert: member (token, slot) pairs, and buffers
        int[][] members;
        int[] memberCount;
        float[][] xe, gate, up, ye;
        /** Per part of the attention job, scores over the cached positions. */
        float[][] scores;
        /** The dense MLP's (Grok-2) intermediates and output, grown on demand. */
        float[] denseGate, denseUp, denseOut;

        Scratch ensure(int n) {
            if (n <= rows) {
                return this;
            }
            int d = cfg.dModel();
            int qw = queryHeads * cfg.headDim();
            int kvw = kvHeads * cfg.headDim();
            int e = cfg.experts();
            int top = cfg.expertsPerToken();
            h = new float[n * d];
            x = new float[n * d];
            q = new float[n * qw];
            k = new float[n * kvw];
            v = new float[n * kvw];
            o = new float[n * qw];
            branch = new float[n * d];
            int widest = Math.max(d, qw);
            xTop = new float[n * ((widest + 1) / 2)];
            xBottom = new float[n * ((widest + 1) / 2)];
            yTop = new float[n * widest];
            yBottom = new float[n * widest];
            probs = new float[n * e];
            gates = new float[n * top];
            chosen = new int[n * top];
            cos = new float[n * invFreq.length];
            sin = new float[n * invFreq.length];
            position = new int[n];
            keep = new int[n];
            cache = new KvCache[n];
            members = new int[e][n];
            memberCount = new int[e];
            promptMembers = new int[e];
            if (xe == null) {
                xe = new float[e][];
                gate = new float[e][];
                up = new float[e][];
                ye = new float[e][];
            }
            if (scores == null) {
                scores = new float[4 * pool.threads()][];
            }
            rows = n;
            return this;
        }

        /**
         * Expert buffers of slot {@code e} for {@code n} tokens; when they must grow, they take {@code capacity >= n}
         * rows at once. The prompt path passes the chunk's token count: growing expert after expert to each new
         * largest expert took 0.5-1 s of fresh-memory page faults and young collections in the first 512-token
         * prefill of a Grok-1 layer (6 s).
         */
        void expertBuffers(int e, int n, int capacity) {
            int d = cfg.dModel();
            int ffn = Transformer.this.ffn;
            if (xe[e] == null || xe[e].length < n * d) {
                int rows = Math.max(n, capacity);
                xe[e] = new float[rows * d];
                ye[e] = new float[rows * d];
                gate[e] = new float[rows * ffn];
                up[e] = new float[rows * ffn];
            }
        }

        void denseBuffers(int n, int width) {
            if (denseGate == null || denseGate.length < n * width || denseOut.length < n * cfg.dModel()) {
                denseGate = new float[n * width];
                denseUp = new float[n * width];
                denseOut = new float[n * cfg.dModel()];
            }
        }

        float[] scores(int part, int len) {
            float[] s = scores[part];
            if (s == null || s.length < len) {
                // grow geometrically: a long decode reallocates O(log context) times, not every step
                int cap = s == null ? 1024 : 2 * s.length;
                s = new float[Math.max(len, Math.min(cfg.contextLength(), cap))];
                scores[part] = s;
            }
            return s;
        }
    }

    // ---------------------------------------------------------------- attention (spec §3.6, §3.7)

    /**
     * Attention sub-layer over {@code rows} batch rows: writes every row's key and value into its cache. With
     * {@code keep >= 0} (the last layer) only the {@code keep} rows listed in {@code scratch.keep} continue: they
     * are moved to the front and the query, attention, output projection (and the caller's MoE) run for them alone.
     *
     * @return the rows that continue
     */
    private int attentionBlock(LayerWeights lw, int layer, int rows, int keep) {
        Scratch sc = scratch;
        int d = cfg.dModel();
        int hd = cfg.headDim();
        int half = hd / 2;
        int qWidth = queryHeads * hd;
        int kvWidth = kvHeads * hd;
        float[] h = sc.h, x = sc.x, q = sc.q, k = sc.k, v = sc.v;
        for (int t = 0; t < rows; t++) {
            Kernels.rmsNorm(h, t * d, lw.attnNorm(), eps, x, t * d, d);
        }
        if (probing) {
            probe(x, rows * d, "layer " + layer + " attention input norm");
        }
        boolean compact = keep >= 0;
        int pr = promptRows;
        MatmulList list = matmuls;
        WeightMatrix[] qHalves = queryHalves[layer];
        if (compact) {
            list.add(lw.key(), x, rows, k, pr).add(lw.value(), x, rows, v, pr).run(pool);
        } else if (qHalves == null) {
            list.add(lw.query(), x, rows, q, pr).add(lw.key(), x, rows, k, pr).add(lw.value(), x, rows, v, pr).run(pool);
        } else {
            // ordered so that two threads' halves of the work end at an entry boundary: (query top, key) and
            // (query bottom, value), each read as whole matrices
            splitInput(x, rows, d, sc.xTop, sc.xBottom);
            list.add(qHalves[0], sc.xTop, rows, sc.yTop, pr).add(lw.key(), x, rows, k, pr)
                    .add(qHalves[1], sc.xBottom, rows, sc.yBottom, pr).add(lw.value(), x, rows, v, pr).run(pool);
            addHalves(sc.yTop, sc.yBottom, q, rows * qWidth);
        }
        if (probing) {
            if (!compact) {
                probe(q, rows * qWidth, "layer " + layer + " query projection");
            }
            probe(k, rows * kvWidth, "layer " + layer + " key projection");
            probe(v, rows * kvWidth, "layer " + layer + " value projection");
        }
        for (int t = 0; t < rows; t++) {
            for (int head = 0; head < kvHeads; head++) {
                applyRope(k, t * kvWidth + head * hd, sc.cos, sc.sin, t * half);
            }
            // the cache holds post-RoPE keys and raw values
            KvCache c = sc.cache[t];
            System.arraycopy(k, t * kvWidth, c.keys(layer), sc.position[t] * kvWidth, kvWidth);
            System.arraycopy(v, t * kvWidth, c.values(layer), sc.position[t] * kvWidth, kvWidth);
        }
        if (compact) {
            // rows nobody needs logits for stop here (their keys and values are cached)
            for (int i = 0; i < keep; i++) {
                int from = sc.keep[i];
                if (from != i) {
                    System.arraycopy(h, from * d, h, i * d, d);
                    System.arraycopy(x, from * d, x, i * d, d);
                    sc.cache[i] = sc.cache[from];
                    sc.position[i] = sc.position[from];
                    System.arraycopy(sc.cos, from * half, sc.cos, i * half, half);
                    System.arraycopy(sc.sin, from * half, sc.sin, i * half, half);
                }
            }
            rows = keep;
            int keptPrompt = 0;
            while (keptPrompt < keep && sc.keep[keptPrompt] < pr) {
                keptPrompt++; // sc.keep is ascending: the kept prompt rows stay in front
            }
            promptRows = keptPrompt;
            if (rows == 0) {
                return 0;
            }
            multiply(lw.query(), qHalves, x, rows, q);
            if (probing) {
                probe(q, rows * qWidth, "layer " + layer + " query projection");
            }
        }
        for (int t = 0; t < rows; t++) {
            for (int head = 0; head < queryHeads; head++) {
                applyRope(q, t * qWidth + head * hd, sc.cos, sc.sin, t * half);
            }
        }
        attention.layer = layer;
        attention.rows = rows;
        long work = 0;
        for (int t = 0; t < rows; t++) {
            work += (long) (sc.position[t] + 1) * queryHeads * hd * 2;
        }
        if (pool.threads() == 1 || work < 65_536) {
            attention.run(0, 1);
        } else {
            pool.run(attention, 4 * pool.threads());
        }
        if (probing) {
            probe(sc.o, rows * qWidth, "layer " + layer + " attention");
        }
        multiply(lw.attnOutput(), outputHalves[layer], sc.o, rows, sc.branch);
        if (probing) {
            probe(sc.branch, rows * d, "layer " + layer + " attention output projection");
        }
        comm.allReduceSum(sc.branch, 0, rows * d); // all-reduce #1: the heads of every rank (distributed.md §2.1)
        addNormed(h, sc.branch, lw.postAttnNorm(), rows);
        if (probing) {
            probe(h, rows * d, "layer " + layer + " post-attention norm");
        }
        return rows;
    }

    /**
     * {@code y = x @ w} for {@code rows} rows; with {@code halves} (see {@link WeightMatrix#inputHalves()}) as
     * {@code x[:, :K/2] @ top + x[:, K/2:] @ bottom}, one contiguous half of the weights per thread. The same formula
     * runs for every thread count, so results do not depend on it.
     */
    private void multiply(WeightMatrix w, WeightMatrix[] halves, float[] x, int rows, float[] y) {
        int pr = promptRows;
        if (halves == null) {
            matmuls.add(w, x, rows, y, pr).run(pool);
            return;
        }
        Scratch sc = scratch;
        splitInput(x, rows, w.inputDim(), sc.xTop, sc.xBottom);
        matmuls.add(halves[0], sc.xTop, rows, sc.yTop, pr).add(halves[1], sc.xBottom, rows, sc.yBottom, pr).run(pool);
        addHalves(sc.yTop, sc.yBottom, y, rows * w.outputDim());
    }

    /** Copies the first and second half of each of {@code rows} rows of width {@code k} (even) to two arrays. */
    private static void splitInput(float[] x, int rows, int k, float[] top, float[] bottom) {
        int half = k / 2;
        for (int t = 0; t < rows; t++) {
            System.arraycopy(x, t * k, top, t * half, half);
            System.arraycopy(x, t * k + half, bottom, t * half, half);
        }
    }

    private static void addHalves(float[] top, float[] bottom, float[] y, int n) {
        for (int i = 0; i < n; i++) {
            y[i] = top[i] + bottom[i];
        }
    }

    /**
     * Attention for every (row, KV head) of the scratch, each with the query heads of its group. Part {@code p}
     * takes every {@code parts}-th (row, KV head) pair, so each part gets early (short) and late (long) causal rows
     * alike and the parts cost about the same.
     */
    private final class AttentionJob implements ThreadPool.Job {
        int layer;
        int rows;

        @Override
        public void run(int part, int parts) {
            Scratch sc = scratch;
            int group = cfg.groupSize();
            int groups = queryHeads / group;
            int units = rows * groups;
            for (int unit = part; unit < units; unit += parts) {
                int t = unit / groups;
                int kvHead = unit % groups;
                int pos = sc.position[t];
                float[] scores = sc.scores(part, group * (pos + 1));
                attendGroup(layer, t, kvHead, pos, scores);
            }
        }
    }

    /**
     * The query heads of KV head {@code kvHead} for scratch row {@code t} at absolute position {@code pos} over
     * cached keys {@code [0, pos]}: float32 logits scaled by the attention multiplier, soft-capped
     * {@code c*tanh(x/c)} (no cap when c is 0), times the temperature factor of the row (Grok-2), keys holding the
     * padding id masked out (Grok-1), softmax, weighted sum of values (spec §3.6 steps 5-8, grok-2 spec §2.2: scale,
     * cap, temperature, mask, softmax, in this order). The dot products and weighted sums run for three heads at a
     * time ({@link AttentionKernels}) with the arithmetic of {@link Kernels#dot} and {@link Kernels#axpy} per head,
     * so every element has the same bits however the heads and rows are grouped.
     *
     * @param scores at least {@code groupSize * (pos + 1)} floats of scratch
     */
    private void attendGroup(int layer, int t, int kvHead, int pos, float[] scores) {
        Scratch sc = scratch;
        KvCache cache = sc.cache[t];
        final int hd = cfg.headDim();
        final int group = cfg.groupSize();
        final int width = cache.rowWidth();
        final float[] keys = cache.keys(layer);
        final float[] values = cache.values(layer);
        final int kvOff = kvHead * hd;
        final int count = pos + 1;
        final int qOff = t * queryHeads * hd + kvHead * group * hd; // first query head of the group
        float[] q = sc.q;
        int h = 0;
        for (; h + 3 <= group; h += 3) {
            int o = qOff + h * hd;
            AttentionKernels.dots3(q, o, o + hd, o + 2 * hd, keys, kvOff, width, count, hd,
                    scores, h * count, (h + 1) * count, (h + 2) * count);
        }
        for (; h < group; h++) {
            AttentionKernels.dots1(q, qOff + h * hd, keys, kvOff, width, count, hd, scores, h * count);
        }
        final boolean maskPadding = arch.padKeyMask();
        final float temperature = temperature(pos);
        for (h = 0; h < group; h++) {
            softmaxScores(scores, h * count, count, cache, maskPadding, temperature);
        }
        float[] out = sc.o;
        h = 0;
        for (; h + 3 <= group; h += 3) {
            int o = qOff + h * hd;
            AttentionKernels.axpy3(values, kvOff, width, count, hd, scores, h * count, (h + 1) * count,
                    (h + 2) * count, out, o, o + hd, o + 2 * hd);
        }
        for (; h < group; h++) {
            AttentionKernels.axpy1(values, kvOff, width, count, hd, scores, h * count, out, qOff + h * hd);
        }
    }

    /**
     * Turns one head's raw dot products {@code p[off, off+count)} into attention weights: scale, soft-cap,
     * temperature, padding mask, softmax (max-subtracted float exp, double sum, times the float reciprocal). When
     * every key is padding the weights are all 0 (the reference would attend uniformly to garbage; we output zeros).
     */
    private void softmaxScores(float[] p, int off, int count, KvCache cache, boolean maskPadding, float temperature) {
        float max = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < count; s++) {
            if (maskPadding && cache.token(s) == cfg.padId()) {
                p[off + s] = Float.NEGATIVE_INFINITY;
                continue;
            }
            float l = p[off + s] * attnScale;
            if (softcap > 0) { // 0 = no cap
                l = softcap * (float) Math.tanh(l / softcap);
            }
            if (temperature != 1f) {
                l *= temperature;
            }
            p[off + s] = l;
            max = Math.max(max, l);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            Arrays.fill(p, off, off + count, 0f);
            return;
        }
        double sum = 0;
        for (int s = 0; s < count; s++) {
            float e = p[off + s] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(p[off + s] - max);
            p[off + s] = e;
            sum += e;
        }
        final float inv = (float) (1.0 / sum);
        for (int s = 0; s < count; s++) {
            p[off + s] *= inv;
        }
    }

    /**
     * The attention temperature of a query row at 0-based absolute position {@code pos} (grok-2 spec §2.2):
     * {@code f32(log2(pos)) * f32(1/log2(L))} for {@code pos > L}, exactly 1 otherwise and when it is off.
     */
    private float temperature(int pos) {
        if (inverseLog2TemperatureLength == 0f || pos <= arch.attnTemperatureLength()) {
            return 1f;
        }
        return (float) log2(pos) * inverseLog2TemperatureLength;
    }

    private static double log2(double x) {
        return Math.log(x) / Math.log(2);
    }

    /** inv_freq[i] = 1 / base^(2i/headDim), computed in float32 as model.py does (spec §3.7). */
    private static float[] ropeInverseFrequencies(GrokConfig cfg) {
        int half = cfg.headDim() / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / (float) cfg.headDim();
            float p = (float) Math.pow(cfg.ropeTheta(), exponent);
            inv[i] = 1.0f / p;
        }
        return inv;
    }

    /** cos and sin of θ[r,i] = pos_r * inv_freq[i] for every row's absolute position. */
    private void ropeTable(Scratch sc, int rows) {
        int half = invFreq.length;
        for (int t = 0; t < rows; t++) {
            float pos = sc.position[t];
            for (int i = 0; i < half; i++) {
                float theta = pos * invFreq[i];
                sc.cos[t * half + i] = (float) Math.cos(theta);
                sc.sin[t * half + i] = (float) Math.sin(theta);
            }
        }
    }

    /** Rotate-half RoPE on one head: pairs (i, i + headDim/2), not adjacent pairs (spec §3.7). */
    private void applyRope(float[] x, int off, float[] cos, float[] sin, int tableOff) {
        int half = invFreq.length;
        for (int i = 0; i < half; i++) {
            float c = cos[tableOff + i];
            float s = sin[tableOff + i];
            float a = x[off + i];
            float b = x[off + half + i];
            x[off + i] = a * c - b * s;
            x[off + half + i] = b * c + a * s;
        }
    }

    // ---------------------------------------------------------------- MoE (spec §3.8)

    /** Routed (token, slot) pairs up to which all selected experts run as one work list (decode, small batches). */
    private static final int FUSED_PAIRS = 16;

    private void moeBlock(LayerWeights lw, int layer, int count) {
        Scratch sc = scratch;
        int d = cfg.dModel();
        int experts = cfg.experts();
        int topK = cfg.expertsPerToken();
        float[] h = sc.h, x = sc.x;
        for (int t = 0; t < count; t++) {
            Kernels.rmsNorm(h, t * d, lw.preMoeNorm(), eps, x, t * d, d);
        }
        if (probing) {
            probe(x, count * d, "layer " + layer + " pre-MoE norm");
        }
        // router: float32 logits over all experts, softmax, top-k without renormalisation, ties to the lower index
        float[] probs = sc.probs;
        int pr = promptRows;
        matmuls.add(lw.router(), x, count, probs, pr).run(pool);
        if (probing) {
            probe(probs, count * experts, "layer " + layer + " router");
        }
        float cap = (float) arch.routerSoftcap();
        for (int t = 0; t < count; t++) {
            if (cap == 0f) {
                Kernels.softmax(probs, t * experts, experts);
                selectTopK(probs, t * experts, experts, topK, sc.chosen, sc.gates, t * topK);
            } else {
                // Grok-2 (spec §2.3): cap, rank by the capped logit, gates = the full softmax at the winners
                for (int e = 0; e < experts; e++) {
                    probs[t * experts + e] = cap * (float) Math.tanh(probs[t * experts + e] / cap);
                }
                selectTopK(probs, t * experts, experts, topK, sc.chosen, sc.gates, t * topK);
                Kernels.softmax(probs, t * experts, experts);
                for (int j = t * topK; j < (t + 1) * topK; j++) {
                    sc.gates[j] = probs[t * experts + sc.chosen[j]];
                }
            }
        }
        // group the chunk's tokens by expert so each expert's weights stream through once
        Arrays.fill(sc.memberCount, 0);
        Arrays.fill(sc.promptMembers, 0);
        for (int j = 0; j < count * topK; j++) {
            int e = sc.chosen[j];
            sc.members[e][sc.memberCount[e]++] = j;
            if (j / topK < pr) {
                sc.promptMembers[e]++; // members are in row order: an expert's prompt rows come first
            }
        }
        float[] moe = sc.branch;
        Arrays.fill(moe, 0, count * d, 0f);
        if (count * topK <= FUSED_PAIRS) {
            // every selected expert's gate and up projections in one region, then every down projection in one
            for (int e = 0; e < experts; e++) {
                int n = sc.memberCount[e];
                if (n > 0) {
                    sc.expertBuffers(e, n, n);
                    gather(sc, e, n);
                    int p = sc.promptMembers[e];
                    matmuls.add(lw.gate()[e], sc.xe[e], n, sc.gate[e], p).add(lw.up()[e], sc.xe[e], n, sc.up[e], p);
                }
            }
            matmuls.run(pool);
            for (int e = 0; e < experts; e++) {
                if (probing && sc.memberCount[e] > 0) {
                    probeExpertInput(layer, e, sc.gate[e], sc.up[e], sc.memberCount[e]);
                }
            }
            for (int e = 0; e < experts; e++) {
                int n = sc.memberCount[e];
                if (n > 0) {
                    geluTimesUp(sc.gate[e], sc.up[e], n * ffn);
                    matmuls.add(lw.down()[e], sc.gate[e], n, sc.ye[e], sc.promptMembers[e]);
                }
            }
            matmuls.run(pool);
            for (int e = 0; e < experts; e++) {
                if (probing && sc.memberCount[e] > 0) {
                    probe(sc.ye[e], sc.memberCount[e] * d, "layer " + layer + " expert " + e + " down projection");
                }
                scatter(sc, e, sc.memberCount[e], sc.ye[e], moe);
            }
        } else {
            for (int e = 0; e < experts; e++) {
                int n = sc.memberCount[e];
                if (n == 0) {
                    continue;
                }
                // one set of buffers (slot 0), reused expert after expert
                sc.expertBuffers(0, n, count);
                float[] xe = sc.xe[0];
                for (int i = 0; i < n; i++) {
                    System.arraycopy(x, (sc.members[e][i] / topK) * d, xe, i * d, d);
                }
                int p = sc.promptMembers[e];
                matmuls.add(lw.gate()[e], xe, n, sc.gate[0], p).add(lw.up()[e], xe, n, sc.up[0], p).run(pool);
                if (probing) {
                    probeExpertInput(layer, e, sc.gate[0], sc.up[0], n);
                }
                geluTimesUp(sc.gate[0], sc.up[0], n * ffn);
                matmuls.add(lw.down()[e], sc.gate[0], n, sc.ye[0], p).run(pool);
                if (probing) {
                    probe(sc.ye[0], n * d, "layer " + layer + " expert " + e + " down projection");
                }
                scatter(sc, e, n, sc.ye[0], moe);
            }
        }
        if (lw.hasDenseMlp()) {
            denseMlp(lw, layer, count, moe);
        }
        comm.allReduceSum(moe, 0, count * d); // all-reduce #2: the FFN columns of every rank (distributed.md §2.2)
        if (lw.hasDenseMlp()) {
            for (int i = 0; i < count * d; i++) {
                moe[i] /= SQRT2; // f = (dense + moe) / sqrt(2), grok-2 spec §2.5
            }
        }
        addNormed(h, moe, lw.postMoeNorm(), count);
        if (probing) {
            probe(h, count * d, "layer " + layer + " post-MoE norm");
        }
    }

    private void probeExpertInput(int layer, int e, float[] gate, float[] up, int n) {
        probe(gate, n * ffn, "layer " + layer + " expert " + e + " gate projection");
        probe(up, n * ffn, "layer " + layer + " expert " + e + " up projection");
    }

    /** f32(sqrt(2)) = 0x3FB504F3, the residual-MoE divisor as the reference applies it (grok-2 spec §2.6). */
    private static final float SQRT2 = (float) Math.sqrt(2);

    /**
     * {@code out += Wdown · (gelu(Wgate·m) ⊙ (Wup·m))} for the normed rows in {@code scratch.x}: Grok-2's residual
     * dense MLP (spec §2.5), on this rank's columns of it (its partial sum joins the experts' all-reduce).
     */
    private void denseMlp(LayerWeights lw, int layer, int count, float[] out) {
        Scratch sc = scratch;
        int d = cfg.dModel();
        int width = lw.denseGate().outputDim();
        sc.denseBuffers(count, width);
        int pr = promptRows;
        matmuls.add(lw.denseGate(), sc.x, count, sc.denseGate, pr).add(lw.denseUp(), sc.x, count, sc.denseUp, pr).run(pool);
        if (probing) {
            probe(sc.denseGate, count * width, "layer " + layer + " dense MLP gate projection");
            probe(sc.denseUp, count * width, "layer " + layer + " dense MLP up projection");
        }
        geluTimesUp(sc.denseGate, sc.denseUp, count * width);
        matmuls.add(lw.denseDown(), sc.denseGate, count, sc.denseOut, pr).run(pool);
        if (probing) {
            probe(sc.denseOut, count * d, "layer " + layer + " dense MLP down projection");
        }
        for (int i = 0; i < count * d; i++) {
            out[i] += sc.denseOut[i];
        }
    }

    /** Copies the normed inputs of expert {@code e}'s members into its own buffer. */
    private void gather(Scratch sc, int e, int n) {
        int d = cfg.dModel();
        int topK = cfg.expertsPerToken();
        for (int i = 0; i < n; i++) {
            System.arraycopy(sc.x, (sc.members[e][i] / topK) * d, sc.xe[e], i * d, d);
        }
    }

    /** out[token] += gate * y[i] for expert {@code e}'s members. */
    private void scatter(Scratch sc, int e, int n, float[] y, float[] out) {
        int d = cfg.dModel();
        int topK = cfg.expertsPerToken();
        for (int i = 0; i < n; i++) {
            int j = sc.members[e][i];
            int t = j / topK;
            float g = sc.gates[j];
            for (int c = 0; c < d; c++) {
                out[t * d + c] += g * y[i * d + c];
            }
        }
    }

    /** {@code gate[i] = gelu(gate[i]) * up[i]} for {@code i < n}, split across the pool when large. */
    private void geluTimesUp(float[] gate, float[] up, int n) {
        gelu.gate = gate;
        gelu.up = up;
        gelu.n = n;
        gelu.erf = arch.erfGelu();
        if (pool.threads() == 1 || n < 8192) {
            gelu.run(0, 1);
        } else {
            pool.run(gelu, 2 * pool.threads());
        }
        gelu.gate = null;
        gelu.up = null;
    }

    private static final class GeluJob implements ThreadPool.Job {
        float[] gate;
        float[] up;
        int n;
        /** The exact erf form (Grok-2) instead of the tanh approximation (Grok-1). */
        boolean erf;

        @Override
        public void run(int part, int parts) {
            int from = (int) ((long) n * part / parts);
            int to = (int) ((long) n * (part + 1) / parts);
            float[] g = gate, u = up;
            if (erf) {
                ErfGelu.geluTimes(g, u, from, to);
            } else {
                TanhGelu.geluTimes(g, u, from, to);
            }
        }
    }

    /** Indices of the {@code k} largest of {@code p[off, off+n)}, descending; equal values keep the lower index first. */
    static void selectTopK(float[] p, int off, int n, int k, int[] idx, float[] val, int outOff) {
        long taken = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < n; e++) {
                if ((taken & (1L << e)) == 0 && (best < 0 || p[off + e] > p[off + best])) {
                    best = e;
                }
            }
            taken |= 1L << best;
            idx[outOff + j] = best;
            val[outOff + j] = p[off + best];
        }
    }

    /** h += RMSNorm(branch) per token: the post-norm sits on the branch, before the residual add (spec §3.3). */
    private void addNormed(float[] h, float[] branch, float[] scale, int count) {
        int d = cfg.dModel();
        for (int t = 0; t < count; t++) {
            Kernels.rmsNorm(branch, t * d, scale, eps, branch, t * d, d);
            for (int c = 0; c < d; c++) {
                h[t * d + c] += branch[t * d + c];
            }
        }
    }

    // ---------------------------------------------------------------- output (spec §3.2)

    /** Logits of the first {@code rows} rows of the scratch, {@code [rows, vocab]}. */
    private float[] unembed(Scratch sc, int rows) {
        int d = cfg.dModel();
        float[] x = sc.x;
        for (int r = 0; r < rows; r++) {
            Kernels.rmsNorm(sc.h, r * d, weights.finalNorm(), eps, x, r * d, d);
        }
        if (probing) {
            probe(x, rows * d, "the final norm");
        }
        if (comm.size() == 1) {
            // the whole vocabulary, or a local copy's slice of it (localLayers)
            float[] logits = new float[rows * partition.vocab()];
            matmuls.add(weights.unembedding(), x, rows, logits, promptRows).run(pool);
            if (probing) {
                probe(logits, logits.length, weights.output() == null ? "the unembedding" : "the output projection");
            }
            scaleLogits(logits, 0, logits.length);
            if (probing) {
                probe(logits, logits.length, "the output multiplier");
            }
            return logits;
        }
        // this rank's vocabulary slice, padded to the common width P, gathered to rank 0 (distributed.md §2.3)
        int per = partition.vocabPerRank();
        float[] local = new float[rows * per];
        matmuls.add(weights.unembedding(), x, rows, local, promptRows).run(pool);
        int mine = partition.vocab();
        // the unembedding slice is [d, vocab()] wide: its rows land at stride vocab(), repack them at stride P
        if (mine != per) {
            for (int t = rows - 1; t >= 0; t--) {
                System.arraycopy(local, t * mine, local, t * per, mine);
            }
        }
        for (int t = 0; t < rows; t++) {
            scaleLogits(local, t * per, mine);
        }
        int ranks = partition.ranks();
        float[] all = partition.rank() == 0 ? new float[ranks * rows * per] : null;
        comm.gather(local, 0, rows * per, all, 0, 0);
        if (all == null) {
            return null;
        }
        int vocab = cfg.vocabSize();
        float[] logits = new float[rows * vocab];
        for (int r = 0; r < ranks; r++) {
            Partition p = Partition.of(cfg, r, ranks);
            for (int t = 0; t < rows; t++) {
                System.arraycopy(all, (r * rows + t) * per, logits, t * vocab + p.vocab0(), p.vocab());
            }
        }
        return logits;
    }

    /** {@code z *= output multiplier}, then (Grok-2) the final cap {@code c * tanh(z / c)} (grok-2 spec §2.5). */
    private void scaleLogits(float[] z, int off, int n) {
        float cap = (float) arch.finalSoftcap();
        for (int i = off; i < off + n; i++) {
            float v = z[i] * outputMultiplier;
            z[i] = cap == 0f ? v : cap * (float) Math.tanh(v / cap);
        }
    }

    private static void checkShapes(GrokConfig cfg, GrokWeights weights) {
        // (in the config's terms: the whole model, before a rank's slices are cut)
        int d = cfg.dModel();
        int q = cfg.queryHeads() * cfg.headDim();
        int kv = cfg.kvHeads() * cfg.headDim();
        if (weights.layers().size() != cfg.layers()) {
            throw new IllegalArgumentException("weights have " + weights.layers().size() + " layers, config says " + cfg.layers());
        }
        check(weights.output() == null ? "unembedding" : "output projection", weights.unembedding(), d, cfg.vocabSize());
        int dense = cfg.architecture().denseFfn();
        for (int l = 0; l < cfg.layers(); l++) {
            LayerWeights lw = weights.layers().get(l);
            String p = "layer " + l + " ";
            check(p + "query", lw.query(), d, q);
            check(p + "key", lw.key(), d, kv);
            check(p + "value", lw.value(), d, kv);
            check(p + "attention output", lw.attnOutput(), q, d);
            check(p + "router", lw.router(), d, cfg.experts());
            for (int e = 0; e < cfg.experts(); e++) {
                check(p + "expert " + e + " gate", lw.gate()[e], d, cfg.expertFfn());
                check(p + "expert " + e + " up", lw.up()[e], d, cfg.expertFfn());
                check(p + "expert " + e + " down", lw.down()[e], cfg.expertFfn(), d);
            }
            if (lw.hasDenseMlp() != (dense > 0)) {
                throw new IllegalArgumentException(p + (dense > 0 ? "has no dense MLP, but the config has residual_moe"
                        : "has a dense MLP the config does not expect (residual_moe is off)"));
            }
            if (dense > 0) {
                check(p + "dense gate", lw.denseGate(), d, dense);
                check(p + "dense up", lw.denseUp(), d, dense);
                check(p + "dense down", lw.denseDown(), dense, d);
            }
        }
    }

    private static void check(String what, WeightMatrix w, int in, int out) {
        if (w.inputDim() != in || w.outputDim() != out) {
            throw new IllegalArgumentException(what + " is [" + w.inputDim() + ", " + w.outputDim() + "], expected [" + in + ", " + out + "]");
        }
    }
}
