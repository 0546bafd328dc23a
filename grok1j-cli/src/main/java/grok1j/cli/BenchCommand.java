package grok1j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.format.Prefetch;
import grok1j.model.Architecture;
import grok1j.model.Transformer;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.KernelWarmup;
import grok1j.model.KvCache;
import grok1j.model.LayerWeights;
import grok1j.model.Partition;
import grok1j.parallel.Communicator;
import grok1j.parallel.TimedCommunicator;
import grok1j.tensor.AttentionKernels;
import grok1j.tensor.ErfGelu;
import grok1j.tensor.FmaPeak;
import grok1j.tensor.Kernels;
import grok1j.tensor.MemoryBandwidth;
import grok1j.tensor.TanhGelu;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code grok1j bench}: memory bandwidth, then decode and prefill of a Grok-1-shaped model with random int8 weights at
 * the real dimensions, or a Grok-2-shaped one with random bf16 weights ({@code --arch grok-2}), or of a real
 * checkpoint, in one run, with the machine's load. Decode is memory-bound, so its figure of merit is the fraction of
 * the measured bandwidth the weight reads reach.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure memory bandwidth, decode and prefill speed on a synthetic model with random weights at "
                + "the real dimensions (Grok-1: int8 [in, out] as in the official checkpoint; --arch grok-2: bf16 "
                + "[out, in] as in the safetensors release, dense MLP and untied output included), or on a real "
                + "checkpoint with --model."})
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--arch", paramLabel = "ARCH",
            description = "Shape of the synthetic model: grok-1 (default) or grok-2.")
    String arch;

    @Option(names = "--layers", paramLabel = "N", defaultValue = "2", description = "Decoder layers of the synthetic model (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = {"-t", "--threads"}, paramLabel = "T", description = "Compute threads (default: all cores).")
    Integer threads;

    @Option(names = "--oversubscribe-threads",
            description = "Allow --threads above the core count (each step waits for its slowest thread).")
    boolean oversubscribe;

    @Option(names = {"-m", "--model"}, paramLabel = "PATH", description = "Bench this checkpoint instead of a synthetic model.")
    Path model;

    @Option(names = "--decode-tokens", paramLabel = "N", defaultValue = "8", description = "Timed decode steps (default: ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--prefill", paramLabel = "N", split = ",", defaultValue = "128,512",
            description = "Prompt lengths to prefill, comma-separated (default: ${DEFAULT-VALUE}).")
    int[] prefill;

    @Option(names = "--bandwidth-mib", paramLabel = "M", defaultValue = "2048", description = "Size of the bandwidth buffer in MiB (default: ${DEFAULT-VALUE}).")
    int bandwidthMib;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "6", description = "Warm-up rounds before timing: on a small model of the same kind, or with --model on the model's first layer as serve warms up (default: ${DEFAULT-VALUE}).")
    int warmupRounds;

    @Option(names = "--passes", paramLabel = "N", defaultValue = "7", description = "Bandwidth passes; the median is reported (default: ${DEFAULT-VALUE}).")
    int passes;

    @Option(names = "--chat-turns", paramLabel = "N", defaultValue = "0",
            description = "Instead of the kernel benchmarks: time to first token of an N-turn chat (each turn resends the "
                    + "conversation) cold and with the prefix cache; needs --model (default: ${DEFAULT-VALUE}, off).")
    int chatTurns;

    @Option(names = "--chat-tokens", paramLabel = "S,U,A", split = ",", defaultValue = "400,40,24",
            description = "System prompt, user message and answer tokens per turn for --chat-turns (default: ${DEFAULT-VALUE}).")
    int[] chatTokens;

    @Option(names = "--json", description = "Print one JSON object instead of a report.")
    boolean json;

    @Option(names = "--compare-llama", paramLabel = "LLAMA_BENCH",
            description = "Also run llama.cpp's llama-bench (this path) on the --model GGUF file with the same threads, "
                    + "between grok1j's decode and prefill runs, and report grok1j / llama.cpp ratios.")
    Path compareLlama;

    @Option(names = "--write-gguf", paramLabel = "DIR",
            description = "Instead of benchmarking: write the synthetic Grok-1-shaped model (--layers) as GGUF files "
                    + "DIR/grok1-L<layers>-<type>.gguf, one per --type, for --model runs and --compare-llama.")
    Path writeGguf;

    @Option(names = "--write-checkpoint", paramLabel = "DIR",
            description = "Instead of benchmarking: write the synthetic Grok-1-shaped model (--layers) as an official-format "
                    + "checkpoint (DIR/ckpt-0/, DIR/config.json, and DIR/tokenizer.model from --tokenizer) for grok1j convert.")
    Path writeCheckpoint;

    @Option(names = "--type", paramLabel = "T", split = ",", defaultValue = "q8_0",
            description = "GGUF types for --write-gguf, comma-separated: q8_0, q4_k, q6_k, f16, ... (default: ${DEFAULT-VALUE}).")
    List<String> types;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "Grok-1's tokenizer.model, for --write-gguf (required) and --write-checkpoint (copied beside ckpt-0/).")
    Path tokenizer;

    @Override
    public Integer call() throws Exception {
        int t = ThreadCount.resolve(threads, oversubscribe);
        if (chatTurns < 0) {
            throw new IllegalArgumentException("--chat-turns must be >= 0, got " + chatTurns);
        }
        if (chatTurns > 0) {
            if (model == null) {
                throw new IllegalArgumentException("--chat-turns needs --model");
            }
            if (chatTokens.length != 3 || Arrays.stream(chatTokens).anyMatch(n -> n < 1)) {
                throw new IllegalArgumentException("--chat-tokens takes three positive counts: system, user, answer");
            }
            try (ThreadPool pool = new ThreadPool(t); grok1j.model.Model m = grok1j.model.Model.open(model, null, pool)) {
                return ChatBench.run(m, chatTurns, chatTokens[0], chatTokens[1], chatTokens[2], CommandLineContext.out());
            }
        }
        if (layers < 1 || layers > 64) {
            throw new IllegalArgumentException("--layers must be between 1 and 64, got " + layers);
        }
        positive("--bandwidth-mib", bandwidthMib);
        positive("--passes", passes);
        positive("--decode-tokens", decodeTokens);
        for (int n : prefill) {
            positive("--prefill", n);
        }
        if (warmupRounds < 0) {
            throw new IllegalArgumentException("--warmup must be >= 0, got " + warmupRounds);
        }
        long physicalMib = physicalMemoryMib();
        if (physicalMib > 0 && bandwidthMib > physicalMib) {
            throw new IllegalArgumentException("--bandwidth-mib " + bandwidthMib + " is more than this machine's memory ("
                    + physicalMib + " MiB)");
        }
        if (arch != null && !arch.equals("grok-1") && !arch.equals("grok-2")) {
            throw new IllegalArgumentException("--arch must be grok-1 or grok-2, got " + arch);
        }
        if (arch != null && model != null) {
            throw new IllegalArgumentException("--arch shapes the synthetic model; a --model brings its own architecture");
        }
        if (writeGguf != null && "grok-2".equals(arch)) {
            throw new IllegalArgumentException("--write-gguf writes Grok-1-shaped files only; drop --arch grok-2");
        }
        if (writeCheckpoint != null && ("grok-2".equals(arch) || writeGguf != null || model != null)) {
            throw new IllegalArgumentException("--write-checkpoint writes the synthetic Grok-1-shaped model alone; drop "
                    + ("grok-2".equals(arch) ? "--arch grok-2" : writeGguf != null ? "--write-gguf" : "--model"));
        }
        GrokConfig synthetic = syntheticConfig(arch, layers);
        if (model == null) {
            checkPrefill(synthetic);
        }
        if (model == null && Cluster.communicator().size() == 1) {
            long need = SyntheticModel.bytesOf(synthetic);
            long available = availableMemoryBytes();
            if (available > 0 && need > available) {
                throw new IllegalArgumentException(String.format("the synthetic %s model with %d layer(s) needs %.1f GB "
                        + "of memory and %.1f GB are available; use fewer --layers", synthetic.architecture().name(),
                        layers, need / 1e9, available / 1e9));
            }
        }
        PrintStream out = CommandLineContext.out();
        PrintStream err = CommandLineContext.err();
        if (writeGguf != null) {
            List<grok1j.tensor.GgmlType> ts = types.stream().map(ConvertCommand::parseType).toList();
            try (ThreadPool pool = new ThreadPool(t)) {
                for (Path p : SyntheticGguf.write(syntheticConfig(null, layers), pool, ts, writeGguf, tokenizer, err)) {
                    out.println(p);
                }
            }
            return 0;
        }
        if (writeCheckpoint != null) {
            try (ThreadPool pool = new ThreadPool(t)) {
                SyntheticCheckpoint.write(syntheticConfig(null, layers), pool, writeCheckpoint, tokenizer, err);
            }
            out.println(writeCheckpoint);
            return 0;
        }
        if (compareLlama != null) {
            if (model == null || !grok1j.format.ModelFiles.isGguf(model)) {
                throw new IllegalArgumentException("--compare-llama needs --model FILE.gguf (llama.cpp reads GGUF only)");
            }
            LlamaBench.check(compareLlama);
        }
        grok1j.format.gguf.GgufModel.checkInterleaveSetting(); // before the half minute of probes
        ObjectNode r = new ObjectMapper().createObjectNode();
        r.put("threads", t);
        r.put("loadavg_start", loadavg());
        r.put("vector_bits", jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize());
        // a file that cannot be read fails now, not after the half minute of probes (mapping it takes no memory)
        ModelFile opened = model != null ? ModelFiles.open(model) : null;
        if (opened != null) {
            checkPrefill(opened.weights().config());
        }
        try (ThreadPool pool = new ThreadPool(t)) {
            // 1. bandwidth, with its buffer freed before the model is built
            progress(err, "measuring memory bandwidth (" + bandwidthMib + " MiB, " + passes + " passes, " + t + " threads)");
            double[] bw;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment buf = arena.allocate((long) bandwidthMib << 20, 4096);
                buf.fill((byte) 1);
                bw = new MemoryBandwidth(buf, t).measure(pool, passes);
            }
            double bandwidth = MemoryBandwidth.median(bw);
            r.put("bandwidth_gbs", round(bandwidth, 2));
            r.put("bandwidth_passes_gbs", Arrays.toString(Arrays.stream(bw).map(v -> round(v, 1)).toArray()));
            // the arithmetic ceiling prefill is compared with (float32 FMAs, every thread)
            progress(err, "measuring the float32 FMA peak (" + t + " threads)");
            double[] fma = new FmaPeak(20_000_000, t).measure(pool, passes);
            r.put("fma_peak_gflops", round(MemoryBandwidth.median(fma), 1));

            // 2. the model
            GrokWeights weights;
            AutoCloseable owner;
            MemorySegment probeBuffer = null;
            if (opened != null) {
                ModelFile f = opened;
                GenerateCommand.warnIfShort(DoctorCommand.warning(f, Cluster.communicator().size(), 1), err);
                owner = f;
                r.put("model", model.toString());
                Communicator ranks = Cluster.communicator();
                long copy = f instanceof grok1j.format.gguf.GgufModel g ? g.repackBytes(ranks.rank(), ranks.size()) : 0;
                if (compareLlama != null && copy > 0 && ranks.size() == 1
                        && fileBytes(f) + copy > grok1j.format.gguf.GgufModel.REPACK_FIT * Prefetch.memAvailable()) {
                    // llama.cpp reads the file through the page cache, which the copy would leave too small for it
                    progress(err, "llama.cpp before the repack: the file (" + gb(fileBytes(f)) + ") and grok1j's copy of "
                            + "its experts (" + gb(copy) + ") do not both fit in memory");
                    llamaFirst = runLlama(pool.threads());
                    r.put("llama_ran", "before grok1j repacked the file's experts (file and copy do not both fit)");
                }
                if (f instanceof grok1j.format.gguf.GgufModel g && copy > 0) {
                    var plan = g.repackPlan(ranks.rank(), ranks.size(), 1, Prefetch.memAvailable());
                    progress(err, plan.copies() ? "repacking the experts for the kernels (" + gb(copy) + ")"
                            : "the experts stay in the file's rows: the copy (" + gb(copy) + ") and the rest of the file ("
                            + gb(plan.fileBytes()) + ") do not fit in " + Math.round(100 * grok1j.format.gguf.GgufModel.REPACK_FIT)
                            + " % of the available memory");
                }
                long c0 = System.nanoTime();
                long copied = f.repack(ranks.rank(), ranks.size());
                if (copied > 0) {
                    r.put("repacked_bytes", copied);
                    r.put("repack_s", round((System.nanoTime() - c0) / 1e9, 1));
                }
                weights = f.weights();
                // the mapped file into this process's page tables first if it fits, as llama.cpp's mmap does:
                // otherwise the first decode steps fault each expert's pages in and are timed doing so
                progress(err, "reading the mapped weights into memory");
                long f0 = System.nanoTime();
                long mapped = Prefetch.populateIfItFits(f.mappings(), pool);
                r.put("prefetch_s", round((System.nanoTime() - f0) / 1e9, 1));
                r.put("prefetch_bytes", mapped);
                if (mapped > 0) {
                    // the largest mapped range now resident (the file, less what the repack copied) is the buffer the
                    // bandwidth is re-measured on between decode steps (as the synthetic model's embedding table)
                    MemorySegment largest = f.mappings().stream().filter(MemorySegment::isNative)
                            .max(java.util.Comparator.comparingLong(MemorySegment::byteSize)).orElseThrow();
                    probeBuffer = largest.asSlice(0, Math.min(largest.byteSize(), (long) bandwidthMib << 20));
                }
            } else {
                GrokConfig cfg = synthetic;
                String name = cfg.architecture().name().equals("grok-2") ? "Grok-2" : "Grok-1";
                String storage = SyntheticModel.isGrok2(cfg) ? "bf16" : "int8";
                progress(err, "building a synthetic " + name + "-shaped model with " + layers + " layer(s) in memory");
                long b0 = System.nanoTime();
                Communicator comm = Cluster.communicator();
                SyntheticModel sm = new SyntheticModel(cfg, pool, Partition.of(cfg, comm.rank(), comm.size()));
                owner = sm;
                weights = sm.weights();
                probeBuffer = sm.embeddingTable();
                r.put("model", "synthetic " + name + " shape, " + layers + " layers, random " + storage + " weights"
                        + (comm.size() > 1 ? ", each rank holding its slices" : ""));
                r.put("build_s", round((System.nanoTime() - b0) / 1e9, 1));
            }
            try (AutoCloseable ignored = owner) {
                run(weights, opened != null, pool, bandwidth, probeBuffer, r, err);
            }
        }
        r.put("loadavg", loadavg());
        if (json) {
            out.println(new ObjectMapper().writeValueAsString(r));
        } else {
            report(r, out);
        }
        return 0;
    }

    /** Every {@code --prefill} length fits {@code cfg}'s context (checked before the probes and the model's build). */
    private void checkPrefill(GrokConfig cfg) {
        for (int n : prefill) {
            if (n > cfg.contextLength()) {
                throw new IllegalArgumentException("--prefill lengths must be at most the model's context of "
                        + cfg.contextLength() + " tokens, got " + n);
            }
        }
    }

    /** The synthetic model's config: the released dimensions of {@code arch} (null: grok-1) with {@code layers} layers. */
    static GrokConfig syntheticConfig(String arch, int layers) {
        return ("grok-2".equals(arch) ? GrokConfig.grok2() : GrokConfig.grok1()).withLayers(layers);
    }

    /**
     * @param mappedWeights whether the weights are a mapped model file ({@code --model}) rather than the synthetic model
     * @param probe a large off-heap buffer to re-measure the bandwidth between decode steps (the synthetic model's
     *              embedding table), or null
     */
    private void run(GrokWeights weights, boolean mappedWeights, ThreadPool pool, double bandwidth, MemorySegment probe,
                     ObjectNode r, PrintStream err) {
        GrokConfig cfg = weights.config();
        int nl = cfg.layers();
        // under mpirun: every rank computes its slices; the all-reduces are timed for the per-rank report
        TimedCommunicator comm = new TimedCommunicator(Cluster.communicator());
        Transformer net = new Transformer(weights, pool, comm);
        Transformer.Timings tm = new Transformer.Timings(nl);
        // timings on from the warm-up on, so C2 compiles the forward pass with its timing branches taken: switched on
        // only for the timed steps, the first of them hit an uncommon trap in the compiled forward pass
        // (-XX:+PrintCompilation), which then ran in lower tiers while C2 compiled it again on one of the cores
        net.recordTimings(tm);
        if (comm.rank() != 0) {
            follow(net, tm, comm);
            throw new Cluster.FollowerDone();
        }
        Random rnd = new Random(42);

        long perLayer = weightBytesPerDecodeLayer(net.weights());
        r.put("layers", nl);
        r.put("weight_bytes_per_layer", perLayer);
        r.put("unembedding_bytes", net.weights().unembedding().storedBytes());

        // warm-up, so the kernels run C2 code before anything is timed (kernels.md §4.3): first many short rounds,
        // then short prefill and decode steps on the whole model
        progress(err, "warming up");
        long w0 = System.nanoTime();
        if (mappedWeights) {
            // a model file: rounds on its own first layer, as serve warms up (KernelWarmup). Not a small synthetic
            // model, whose weights live in Arena memory: once the kernels had run on that other MemorySegment class
            // first, C2 compiled them for both, and the mapped file's decode ran at ~0.7 of the speed it has in serve
            // (2-layer Q4_K file, three alternating runs each: 57-77 ms per layer after the small model, 37-45 after
            // this warm-up)
            if (warmupRounds > 0) {
                KernelWarmup.run(net, java.time.Duration.ofMinutes(10), warmupRounds);
            }
        } else {
            // the synthetic model: a small model of the same kind (its weights in Arena memory too) many times
            Architecture a = cfg.architecture();
            GrokConfig small = new GrokConfig(2048, 512, 2, 4, 2, 128, 1024, cfg.experts(), cfg.expertsPerToken(), 1024,
                    cfg.ropeTheta(), cfg.rmsEps(), cfg.embeddingMultiplier(), cfg.outputMultiplier(), cfg.attnOutputMultiplier(),
                    cfg.attnSoftcap(), cfg.padId(), cfg.bosId(), cfg.eosId(), a.residualDenseMlp()
                            ? Architecture.grok2(a.attnTemperatureLength(), a.finalSoftcap(), 2048) : a);
            try (SyntheticModel sm = new SyntheticModel(small, pool)) {
                Transformer s = new Transformer(sm.weights(), pool);
                s.recordTimings(new Transformer.Timings(small.layers())); // as the timed model (see above)
                for (int round = 0; round < warmupRounds; round++) {
                    KvCache warm = new KvCache(small);
                    s.forward(randomTokens(rnd, small, 40), 0, 40, warm, Transformer.Logits.LAST);
                    for (int i = 0; i < 60; i++) {
                        s.forward(randomTokens(rnd, small, 1), 0, 1, warm, Transformer.Logits.LAST);
                    }
                }
            }
        }
        AttentionKernels.warmUp(); // the small model's groups of 2 query heads never call the 3-head kernels
        TanhGelu.warmUp();
        ErfGelu.warmUp(); // Grok-2's GELU
        for (int round = 0; round < 2; round++) {
            KvCache warm = net.newCache();
            // 48 tokens, as the server's KernelWarmup: the attention projections take the GEMM's two-vector strips
            // (not only the one-vector strip of a prompt of 16 or fewer). With 13 tokens here the first 512-token
            // prompt ran its projections at ~0.45 of the FMA peak while C2 recompiled the GEMM, against ~0.8 after.
            net.forward(randomTokens(rnd, cfg, 48), 0, 48, warm, Transformer.Logits.LAST);
            for (int i = 0; i < 3; i++) {
                net.forward(randomTokens(rnd, cfg, 1), 0, 1, warm, Transformer.Logits.LAST);
            }
        }
        // the unembedding runs once per decode step, so the rounds above call its kernel a few times only and C2 was
        // still compiling it when the timed steps began (a 2-layer file with an F16 output: unembeddings of 300-400 ms
        // in some runs, against 60-90 ms once compiled): two dozen more products, about a second
        float[] xw = new float[cfg.dModel()];
        for (int i = 0; i < xw.length; i++) {
            xw[i] = (float) rnd.nextGaussian();
        }
        WeightMatrix unembedding = net.weights().unembedding();
        float[] logitsWarm = new float[unembedding.outputDim()];
        for (int i = 0; i < 24; i++) {
            Kernels.matmul(pool, unembedding, xw, 1, logitsWarm);
        }
        // the scratch of the longest prefill, allocated before anything is timed (fresh memory's page faults are a
        // first-call cost, which llama-bench's warm-up pass leaves out as well)
        net.reserve(Math.min(cfg.contextLength(), Math.max(16, Arrays.stream(prefill).max().orElse(16))));
        // decode: a 16-token prompt, then timed steps
        KvCache cache = net.newCache();
        net.forward(randomTokens(rnd, cfg, 16), 0, 16, cache, Transformer.Logits.LAST);
        r.put("warmup_s", round((System.nanoTime() - w0) / 1e9, 1));
        nextPhase(net, comm);
        progress(err, "decode: " + decodeTokens + " steps");
        long forwardNanos = 0;
        double[] total = new double[decodeTokens];
        double[] layer = new double[decodeTokens];
        double[] unembed = new double[decodeTokens];
        // heap bytes a step allocates: the logits and a few small arrays once the kernels are compiled; megabytes mean
        // a kernel boxes its vectors (a call C2 did not inline), which also costs time (see LaneSum)
        double[] allocated = new double[decodeTokens];
        int[] one = new int[1];
        // the machine's load changes by the minute: when possible, re-measure the bandwidth between decode steps
        MemoryBandwidth interleaved = probe == null ? null : new MemoryBandwidth(probe, pool.threads());
        double[] probeGbs = new double[decodeTokens];
        for (int i = 0; i < decodeTokens; i++) {
            if (interleaved != null) {
                probeGbs[i] = i == 0 ? interleaved.measure(pool, 1)[0] : interleaved.pass(pool);
            }
            one[0] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            long heap0 = heapAllocated();
            net.forward(one, 0, 1, cache, Transformer.Logits.LAST);
            allocated[i] = heapAllocated() - heap0;
            long sum = 0;
            for (long v : tm.layerNanos) {
                sum += v;
            }
            total[i] = tm.totalNanos / 1e6;
            forwardNanos += tm.totalNanos;
            layer[i] = sum / 1e6 / nl;
            unembed[i] = tm.unembedNanos / 1e6;
        }
        double msToken = MemoryBandwidth.median(total);
        double msLayer = MemoryBandwidth.median(layer);
        double msUnembed = MemoryBandwidth.median(unembed);
        double other = msToken - msLayer * nl - msUnembed;
        double layerGbs = perLayer / (msLayer * 1e6);
        r.put("decode_ms_per_token", round(msToken, 2));
        r.put("decode_ms_per_layer", round(msLayer, 2));
        r.put("decode_unembed_ms", round(msUnembed, 2));
        if (heapAllocated() >= 0) {
            r.put("decode_allocated_bytes_per_step", (long) MemoryBandwidth.median(allocated));
        }
        r.put("decode_layer_gbs", round(layerGbs, 2));
        r.put("decode_bandwidth_fraction", fraction(layerGbs / bandwidth));
        if (interleaved != null) {
            double bi = MemoryBandwidth.median(probeGbs);
            r.put("bandwidth_interleaved_gbs", round(bi, 2));
            r.put("decode_bandwidth_fraction_interleaved", fraction(layerGbs / bi));
        }
        r.put("decode_unembed_bandwidth_fraction",
                fraction(net.weights().unembedding().storedBytes() / (msUnembed * 1e6) / bandwidth));
        r.put("projected_64_layer_decode_ms_per_token", round(64 * msLayer + msUnembed + Math.max(0, other), 1));
        r.put("projected_64_layer_decode_tokens_per_s", round(1000 / (64 * msLayer + msUnembed + Math.max(0, other)), 3));
        if (comm.size() > 1) {
            net.stopFollowers(); // the followers leave the decode phase to report
            rankReport(r, rankStats(net, comm, perLayer, msLayer, forwardNanos));
        }

        // llama.cpp on the same file, between grok1j's decode and prefill runs (the machine's load drifts by the minute),
        // unless it had to run before the repack
        int llamaPrompt = Arrays.stream(prefill).max().orElse(512);
        if (compareLlama != null) {
            LlamaBench.Result lr = llamaFirst != null ? llamaFirst : runLlama(pool.threads());
            r.put("llama_decode_tokens_per_s", round(lr.decodeTokensPerS(), 2));
            r.put("llama_decode_stddev", round(lr.decodeStddev(), 2));
            r.put("llama_prefill_tokens", llamaPrompt);
            r.put("llama_prefill_tokens_per_s", round(lr.prefillTokensPerS(), 2));
            r.put("llama_prefill_stddev", round(lr.prefillStddev(), 2));
            r.put("llama_build", lr.build());
            r.put("llama_cpu", lr.cpu());
            r.put("decode_tokens_per_s", round(1000 / msToken, 2));
            r.put("decode_vs_llama", fraction(1000 / msToken / lr.decodeTokensPerS()));
        }

        // prefill: fresh caches, logits for the last position only (as generate asks)
        for (int n : prefill) {
            progress(err, "prefill: " + n + " tokens");
            KvCache c = net.newCache();
            int[] prompt = randomTokens(rnd, cfg, n);
            // the FMA peak again just before and after: a shared machine's speed drifts by the minute
            double fmaBefore = MemoryBandwidth.median(new FmaPeak(20_000_000, pool.threads()).measure(pool, 3));
            long heap0 = heapAllocated();
            long p0 = System.nanoTime();
            float[] logits = net.forward(prompt, 0, n, c, Transformer.Logits.LAST);
            long prefillAllocated = heapAllocated() - heap0;
            argmax(logits); // the first token: greedy sampling over the logits
            double ms = (System.nanoTime() - p0) / 1e6;
            double fmaAround = (fmaBefore + MemoryBandwidth.median(new FmaPeak(20_000_000, pool.threads()).measure(pool, 3))) / 2;
            PrefillFigures f = PrefillFigures.of(tm.layerNanos, n, ms, flopsPerTokenPerLayer(weights, n),
                    r.has("fma_peak_gflops") ? r.get("fma_peak_gflops").asDouble() : Double.NaN);
            r.put("prefill" + n + "_ms", round(ms, 1));
            r.put("prefill" + n + "_tokens_per_s", round(f.tokensPerS(), 2));
            r.put("prefill" + n + "_last_layer_ms", round(f.lastLayerMs(), 1));
            if (f.perLayer()) { // with one layer these keys are left out (PrefillFigures)
                r.put("prefill" + n + "_ms_per_token_per_layer", round(f.msPerTokenLayer(), 3));
                r.put("prefill" + n + "_gflops", significant(f.gflops(), 1));
                if (!Double.isNaN(f.fmaFraction())) {
                    r.put("prefill" + n + "_fma_fraction", fraction(f.fmaFraction()));
                }
                r.put("prefill" + n + "_fma_peak_around_gflops", round(fmaAround, 1));
                r.put("prefill" + n + "_fma_fraction_around", fraction(f.gflops() / fmaAround));
                r.put("projected_64_layer_prefill" + n + "_tokens_per_s", round(f.projected64(), 3));
            }
            r.put("ttft" + n + "_ms", round(ms, 1));
            r.put("ttft_ms", round(ms, 1));
            if (heap0 >= 0) {
                r.put("prefill" + n + "_allocated_bytes", prefillAllocated);
            }
        }
        if (r.has("llama_prefill_tokens_per_s") && r.has("prefill" + llamaPrompt + "_tokens_per_s")) {
            r.put("prefill_vs_llama", fraction(r.get("prefill" + llamaPrompt + "_tokens_per_s").asDouble()
                    / r.get("llama_prefill_tokens_per_s").asDouble()));
        }
        net.recordTimings(null);
        net.stopFollowers();
    }

    /**
     * Heap bytes allocated so far by all threads of this JVM, ended ones included, or -1 where the JVM cannot say
     * (HotSpot can).
     */
    private static long heapAllocated() {
        return java.lang.management.ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean t
                ? t.getTotalThreadAllocatedBytes() : -1;
    }

    /** Figures each rank reports after the decode phase (distributed.md: per-host bytes and the all-reduce cost). */
    private static final int STATS = 6;

    /** Ends the followers' current phase and starts the next with fresh all-reduce timings on every rank. */
    private static void nextPhase(Transformer net, TimedCommunicator comm) {
        if (comm.size() > 1) {
            net.stopFollowers();
            comm.barrier();
        }
        comm.reset();
    }

    /**
     * A rank other than 0: follows the warm-up, then the decode steps (timing its own layers and all-reduces, reported
     * to rank 0), then the prefills.
     */
    private static void follow(Transformer net, Transformer.Timings tm, TimedCommunicator comm) {
        int nl = net.config().layers();
        net.recordTimings(tm); // from the warm-up on, as rank 0 (see run)
        net.follow(); // warm-up
        comm.barrier();
        comm.reset();
        java.util.List<Double> layerMs = new java.util.ArrayList<>();
        long[] forwardNanos = {0};
        net.follow(() -> {
            if (tm.rows == 1) {
                long sum = 0;
                for (long v : tm.layerNanos) {
                    sum += v;
                }
                layerMs.add(sum / 1e6 / nl);
                forwardNanos[0] += tm.totalNanos;
            }
        });
        double ms = MemoryBandwidth.median(layerMs.stream().mapToDouble(Double::doubleValue).toArray());
        rankStats(net, comm, weightBytesPerDecodeLayer(net.weights()), ms, forwardNanos[0]);
        net.follow(); // prefill
        net.recordTimings(null);
    }

    /** Gathers every rank's decode figures to rank 0: {@code [rank][STATS]}, with host names; null on other ranks. */
    private static Object[] rankStats(Transformer net, TimedCommunicator comm, long perLayer, double msLayer, long forwardNanos) {
        float[] mine = {perLayer * net.config().layers() / 1e6f, (float) msLayer, comm.allReduceMedianNanos() / 1e3f,
            comm.allReduceP90Nanos() / 1e3f, forwardNanos == 0 ? 0f : (float) comm.allReduceTotalNanos() / forwardNanos,
            comm.allReduceCount()};
        float[] all = comm.rank() == 0 ? new float[STATS * comm.size()] : null;
        comm.gather(mine, 0, STATS, all, 0, 0);
        byte[] host = java.util.Arrays.copyOf(comm.hostName().getBytes(java.nio.charset.StandardCharsets.UTF_8), 64);
        byte[] hosts = comm.rank() == 0 ? new byte[64 * comm.size()] : null;
        comm.gather(host, 0, 64, hosts, 0, 0);
        return comm.rank() == 0 ? new Object[] {all, hosts} : null;
    }

    private static void rankReport(ObjectNode r, Object[] stats) {
        float[] all = (float[]) stats[0];
        byte[] hosts = (byte[]) stats[1];
        com.fasterxml.jackson.databind.node.ArrayNode ranks = r.putArray("ranks");
        for (int i = 0; i < all.length / STATS; i++) {
            int o = i * STATS;
            String host = new String(hosts, 64 * i, 64, java.nio.charset.StandardCharsets.UTF_8).replace("\0", "").strip();
            ObjectNode n = ranks.addObject();
            n.put("rank", i);
            n.put("host", host);
            n.put("weight_mb_per_decode_step", round(all[o], 1));
            n.put("decode_ms_per_layer", round(all[o + 1], 2));
            n.put("allreduce_median_us", round(all[o + 2], 1));
            n.put("allreduce_p90_us", round(all[o + 3], 1));
            n.put("communication_fraction", fraction(all[o + 4]));
            n.put("allreduces", (long) all[o + 5]);
        }
    }

    /**
     * Floating-point operations per token of a full layer in an {@code n}-token prefill: 2 per multiply-add of the
     * attention projections, router, the top-k experts and the dense MLP (Grok-2), plus attention over {@code (n+1)/2} positions on average
     * (scores and weighted values).
     */
    static double flopsPerTokenPerLayer(GrokWeights w, int n) {
        LayerWeights l = w.layers().getFirst();
        GrokConfig c = w.config();
        double macs = macs(l.query()) + macs(l.key()) + macs(l.value()) + macs(l.attnOutput()) + macs(l.router())
                + c.expertsPerToken() * (macs(l.gate()[0]) + macs(l.up()[0]) + macs(l.down()[0]))
                + (l.hasDenseMlp() ? macs(l.denseGate()) + macs(l.denseUp()) + macs(l.denseDown()) : 0);
        double attention = 2.0 * c.queryHeads() * c.headDim() * ((n + 1) / 2.0);
        return 2 * (macs + attention);
    }

    private static double macs(WeightMatrix m) {
        return (double) m.inputDim() * m.outputDim();
    }

    /**
     * Weight bytes one decode step reads per layer: attention (q, k, v, o), router, the top-k experts' gate, up
     * and down projections (expert 0's sizes; all experts have the same shapes) and the dense MLP (Grok-2).
     */
    static long weightBytesPerDecodeLayer(GrokWeights w) {
        LayerWeights l = w.layers().getFirst();
        long b = l.query().storedBytes() + l.key().storedBytes() + l.value().storedBytes() + l.attnOutput().storedBytes()
                + l.router().storedBytes();
        if (l.hasDenseMlp()) { // Grok-2's dense MLP runs for every token beside the experts
            b += l.denseGate().storedBytes() + l.denseUp().storedBytes() + l.denseDown().storedBytes();
        }
        WeightMatrix g = l.gate()[0], u = l.up()[0], d = l.down()[0];
        return b + w.config().expertsPerToken() * (g.storedBytes() + u.storedBytes() + d.storedBytes());
    }

    private static int[] randomTokens(Random rnd, GrokConfig cfg, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
        }
        return t;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private void report(ObjectNode r, PrintStream out) {
        out.printf("threads %d, %d-bit vectors, load at start %s%n", r.get("threads").asInt(), r.get("vector_bits").asInt(),
                r.get("loadavg_start").asText());
        out.printf("memory read bandwidth: %.1f GB/s (median of %s)%n", r.get("bandwidth_gbs").asDouble(),
                r.get("bandwidth_passes_gbs").asText());
        out.printf("float32 FMA peak: %.1f GFLOP/s%n", r.get("fma_peak_gflops").asDouble());
        out.printf("model: %s%n", r.get("model").asText());
        out.printf("decode: %.1f ms/token, %.2f ms/layer (%.1f GB/s of weights = %.0f %% of bandwidth), unembedding %.1f ms "
                        + "(%.0f %% of bandwidth)%n", r.get("decode_ms_per_token").asDouble(), r.get("decode_ms_per_layer").asDouble(),
                r.get("decode_layer_gbs").asDouble(), 100 * r.get("decode_bandwidth_fraction").asDouble(),
                r.get("decode_unembed_ms").asDouble(), 100 * r.get("decode_unembed_bandwidth_fraction").asDouble());
        out.printf("weight bytes per layer: %d%n", r.get("weight_bytes_per_layer").asLong());
        if (r.has("decode_allocated_bytes_per_step")) {
            out.printf("heap allocated per decode step: %.2f MB%n", r.get("decode_allocated_bytes_per_step").asLong() / 1e6);
        }
        if (r.has("bandwidth_interleaved_gbs")) {
            out.printf("bandwidth re-measured between decode steps: %.1f GB/s; decode layers at %.0f %% of it%n",
                    r.get("bandwidth_interleaved_gbs").asDouble(), 100 * r.get("decode_bandwidth_fraction_interleaved").asDouble());
        }
        for (int n : prefill) {
            if (r.has("prefill" + n + "_ms_per_token_per_layer")) {
                out.printf("prefill %d tokens: %.1f tokens/s, %.2f ms per token per layer (%.1f GFLOP/s = %.1f %% of the "
                                + "FMA peak), time to first token %.0f ms%n", n,
                        r.get("prefill" + n + "_tokens_per_s").asDouble(),
                        r.get("prefill" + n + "_ms_per_token_per_layer").asDouble(),
                        r.get("prefill" + n + "_gflops").asDouble(), 100 * r.get("prefill" + n + "_fma_fraction").asDouble(),
                        r.get("ttft" + n + "_ms").asDouble());
                out.printf("FMA peak re-measured around that prefill: %.1f GFLOP/s; prefill at %.1f %% of it%n",
                        r.get("prefill" + n + "_fma_peak_around_gflops").asDouble(),
                        100 * r.get("prefill" + n + "_fma_fraction_around").asDouble());
            } else {
                out.printf("prefill %d tokens: %.1f tokens/s, time to first token %.0f ms%n", n,
                        r.get("prefill" + n + "_tokens_per_s").asDouble(), r.get("ttft" + n + "_ms").asDouble());
            }
        }
        if (r.get("layers").asInt() < 2) {
            out.println(PrefillFigures.ONE_LAYER_NOTE);
        }
        if (r.has("decode_vs_llama")) {
            int p = r.get("llama_prefill_tokens").asInt();
            out.printf("llama.cpp (%s, build %s) on the same file: decode %.2f tokens/s (+- %.2f), prefill %d tokens "
                            + "%.1f tokens/s (+- %.1f)%n", r.get("llama_cpu").asText(), r.get("llama_build").asText(),
                    r.get("llama_decode_tokens_per_s").asDouble(), r.get("llama_decode_stddev").asDouble(), p,
                    r.get("llama_prefill_tokens_per_s").asDouble(), r.get("llama_prefill_stddev").asDouble());
            out.printf("grok1j / llama.cpp: decode %.2f (%.2f against %.2f tokens/s), prefill %d %.2f%n",
                    r.get("decode_vs_llama").asDouble(), r.get("decode_tokens_per_s").asDouble(),
                    r.get("llama_decode_tokens_per_s").asDouble(), p, r.path("prefill_vs_llama").asDouble(Double.NaN));
        }
        if (r.has("llama_ran")) {
            out.println("llama.cpp ran " + r.get("llama_ran").asText());
        }
        if (r.has("repacked_bytes")) {
            out.printf("repacked at open: %s of experts into the interleaved layout in %.1f s%n",
                    gb(r.get("repacked_bytes").asLong()), r.get("repack_s").asDouble());
        }
        out.printf("projected 64 layers: decode %.2f tokens/s (%.0f ms/token)%n",
                r.get("projected_64_layer_decode_tokens_per_s").asDouble(), r.get("projected_64_layer_decode_ms_per_token").asDouble());
        if (r.has("ranks")) {
            for (com.fasterxml.jackson.databind.JsonNode n : r.get("ranks")) {
                out.printf("rank %d on %s: %.1f MB of weights per decode step, %.2f ms/layer, all-reduce median %.1f us "
                        + "(p90 %.1f us) over %d, %.1f %% of the step communicating%n", n.get("rank").asInt(),
                        n.get("host").asText(), n.get("weight_mb_per_decode_step").asDouble(),
                        n.get("decode_ms_per_layer").asDouble(), n.get("allreduce_median_us").asDouble(),
                        n.get("allreduce_p90_us").asDouble(), n.get("allreduces").asLong(),
                        100 * n.get("communication_fraction").asDouble());
            }
        }
        out.printf("load at end: %s%n", r.get("loadavg").asText());
    }

    private static void positive(String option, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(option + " must be positive, got " + value);
        }
    }

    /** MemAvailable from /proc/meminfo in bytes, or 0 where that file is missing. */
    private static long availableMemoryBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }

    /** Total RAM from /proc/meminfo in MiB, or 0 where that file is missing. */
    private static long physicalMemoryMib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }

    private static void progress(PrintStream err, String what) {
        err.println("bench: " + what);
        err.flush();
    }

    /** llama.cpp's result when it ran before the repack (see {@link #call}), else null: it runs after decode. */
    private LlamaBench.Result llamaFirst;

    /** {@code llama-bench} on {@link #model} with {@code threads}, its prompt the longest {@code --prefill}. */
    private LlamaBench.Result runLlama(int threads) {
        int prompt = Arrays.stream(prefill).max().orElse(512);
        progress(CommandLineContext.err(), "llama.cpp: " + compareLlama + " -p " + prompt + " -n 32 -t " + threads);
        try {
            return LlamaBench.run(compareLlama, model, threads, prompt, 32);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while llama-bench ran");
        } catch (IOException e) {
            throw new IllegalStateException("cannot run llama-bench: " + e.getMessage());
        }
    }

    /** Bytes of the model's mapped files. */
    private static long fileBytes(ModelFile f) {
        return f instanceof grok1j.format.gguf.GgufModel g
                ? g.file().mappings().stream().mapToLong(MemorySegment::byteSize).sum() : 0;
    }

    private static String gb(long bytes) {
        return grok1j.model.MemoryPlan.gb(bytes);
    }

    private static String loadavg() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** A ratio: three decimals, or three significant digits when it is smaller (see {@link #significant}). */
    private static double fraction(double v) {
        return significant(v, 3);
    }

    /**
     * {@code v} to {@code decimals} decimals, or to three significant digits when that would keep fewer: a tiny
     * model's prefill makes well under 0.1 GFLOP/s and under 0.1 % of a wide machine's FMA peak, which fixed
     * decimals would print as 0.
     */
    private static double significant(double v, int decimals) {
        if (v == 0 || !Double.isFinite(v)) return v;
        int digits = 2 - (int) Math.floor(Math.log10(Math.abs(v)));
        return round(v, Math.max(decimals, digits));
    }

    private static double round(double v, int digits) {
        double p = Math.pow(10, digits);
        return Math.round(v * p) / p;
    }
}
