package grok1j.cli;

import grok1j.model.KernelWarmup;
import grok1j.model.MemoryPlan;
import grok1j.model.Model;
import grok1j.model.ModelFingerprint;
import grok1j.model.PrefixCache;
import grok1j.server.ChatTemplate;
import grok1j.server.OpenAiServer;
import grok1j.server.ServerConfig;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code grok1j serve}: the OpenAI-compatible HTTP server. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve the model over an OpenAI-compatible HTTP API with continuous batching (/v1/completions, "
                + "/v1/chat/completions, /v1/models, /health, /metrics, /tokenize, /detokenize). Runs until interrupted "
                + "(Ctrl-C or SIGTERM), then finishes or cancels running requests and exits with status 0."})
final class ServeCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--host", paramLabel = "ADDR", defaultValue = "127.0.0.1",
            description = "Bind address (default: ${DEFAULT-VALUE}; 0.0.0.0 for all interfaces).")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8000", description = "TCP port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Require 'Authorization: Bearer KEY' on /v1/* (default: the GROK1J_API_KEY environment variable, else none).")
    String apiKey;

    @Option(names = "--parallel", paramLabel = "N", defaultValue = "4",
            description = "Sequences decoded together, each with its own KV cache (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--queue", paramLabel = "N", defaultValue = "64",
            description = "Sequences that may wait for a slot; more get HTTP 429 (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--max-body", paramLabel = "BYTES", defaultValue = "8388608",
            description = "Largest request body (default: ${DEFAULT-VALUE}).")
    int maxBody;

    @Option(names = "--chat-template", paramLabel = "FILE",
            description = "JSON chat template {system, user, assistant, generation_prompt, stop, stop_tokens} (default: "
                    + "the model's own: Grok-2's template for Grok-2, User:/Assistant: turns for Grok-1).")
    Path chatTemplate;

    @Option(names = "--served-model-name", paramLabel = "ID",
            description = "Model id in /v1/models and responses (default: the model folder or file name).")
    String modelId;

    @Option(names = "--shutdown-grace", paramLabel = "SECONDS", defaultValue = "10",
            description = "On shutdown, how long running requests may finish before they are cancelled (default: ${DEFAULT-VALUE}).")
    int grace;

    @Option(names = "--keep-alive", paramLabel = "SECONDS", defaultValue = "5",
            description = "While a request waits for its first token (a long prefill, the queue), send a stream an SSE "
                    + "comment and a non-streaming answer a leading space after every this many seconds of silence, so "
                    + "clients' read timeouts measure silence, not work (default: ${DEFAULT-VALUE}).")
    int keepAlive;

    @Option(names = "--idle-timeout", paramLabel = "SECONDS", defaultValue = "30",
            description = "Close a connection silent this long (idle between requests, or stalled sending headers or a "
                    + "body), or whose first request head or a body takes longer than this (default: ${DEFAULT-VALUE}).")
    int idleTimeout;

    @Option(names = "--max-connections", paramLabel = "N", defaultValue = "1024",
            description = "Open connections at most; more wait to be accepted (default: ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--warmup", paramLabel = "SECONDS", defaultValue = "5",
            description = "Before serving, run the kernels on the first layer's weights for up to this long (at most 30 "
                    + "rounds, which small models finish sooner), so the first request does not pay for most of the JIT "
                    + "compilation; 0 skips it (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--cache-ram", paramLabel = "SIZE",
            description = "RAM for the prefix cache shared by all requests (suffix K, M, G, T; 0 turns it off; default: "
                    + "a quarter of the RAM left after the weights and KV cache, at most half the heap they leave).")
    String cacheRam;

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Folder where evicted prefix-cache blocks are kept and read back (checksummed, per model "
                    + "fingerprint; default: none).")
    Path cacheDir;

    /**
     * The prefix cache to serve with, or null when off: {@code --cache-ram} bytes ({@code -1}: the default), spilling
     * to {@code --cache-dir}. Off under mpirun: followers would have to mirror every lookup and insertion on their
     * KV-head share (not done yet), and a spill file read on one host but not another would desynchronise the ranks.
     */
    private PrefixCache prefixCache(Model m, long bytes) throws java.io.IOException {
        if (bytes < 0) {
            DoctorCommand.Plan plan = DoctorCommand.defaultPrefixCache(m.file(), m.network().communicator().size(), parallel);
            bytes = plan == null ? 0 : plan.bytes();
        }
        if (bytes == 0) {
            cacheNote = "prefix cache off";
            return null;
        }
        if (m.network().communicator().size() > 1) {
            cacheNote = "prefix cache off under mpirun (the ranks would have to mirror it; not done yet)";
            return null;
        }
        long fingerprint = ModelFingerprint.of(m.network().weights());
        PrefixCache pc = new PrefixCache(m.network(), bytes, cacheDir, fingerprint);
        cacheNote = "prefix cache " + MemoryPlan.gb(bytes) + " (" + PrefixCache.BLOCK + "-token blocks of "
                + MemoryPlan.gb(pc.blockBytes()) + (cacheDir != null ? ", spilling to " + cacheDir : "") + ")";
        return pc;
    }

    /** What {@link #prefixCache} set up, for the 'serving' line. */
    private String cacheNote = "prefix cache off";

    /** A {@code --cache-ram} size: 0, or a size with an optional K/M/G/T suffix. */
    static long cacheSize(String s) {
        if (s.trim().equals("0")) {
            return 0;
        }
        try {
            return ConvertCommand.parseSize(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--cache-ram " + s + " is not a size (e.g. 0, 512M, 8G)");
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintStream err = CommandLineContext.err();
        String key = apiKey != null ? apiKey : System.getenv("GROK1J_API_KEY");
        if (key != null && key.isBlank()) {
            key = null;
        }
        if (grace < 0) {
            throw new IllegalArgumentException("--shutdown-grace must be >= 0, got " + grace);
        }
        if (warmup < 0) {
            throw new IllegalArgumentException("--warmup must be >= 0, got " + warmup);
        }
        grok1j.format.gguf.GgufModel.checkInterleaveSetting(); // before the socket opens, not when the model does
        if (keepAlive < 1) {
            throw new IllegalArgumentException("--keep-alive must be >= 1 second, got " + keepAlive);
        }
        if (idleTimeout < 1) {
            throw new IllegalArgumentException("--idle-timeout must be >= 1 second, got " + idleTimeout);
        }
        if (keepAlive >= idleTimeout) { // a connection silent for the idle timeout is closed: beats must come sooner
            throw new IllegalArgumentException("--keep-alive (" + keepAlive + " s) must be shorter than --idle-timeout ("
                    + idleTimeout + " s)");
        }
        long cacheBytes = cacheRam == null ? -1 : cacheSize(cacheRam);
        if (maxConnections < 1) {
            throw new IllegalArgumentException("--max-connections must be >= 1, got " + maxConnections);
        }
        ServerConfig config;
        try {
            config = ServerConfig.defaults().withHost(host).withPort(port).withApiKey(key).withParallel(parallel)
                    .withQueue(queue).withMaxBodyBytes(maxBody)
                    .withChatTemplate(chatTemplate == null ? null : ChatTemplate.read(chatTemplate))
                    .withModelId(modelId != null ? modelId : defaultModelId(model.model))
                    .withShutdownGrace(Duration.ofSeconds(grace)).withKeepAlive(Duration.ofSeconds(keepAlive))
                    .withIdleTimeout(Duration.ofSeconds(idleTimeout)).withMaxConnections(maxConnections);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replace("parallel", "--parallel").replace("queue", "--queue")
                    .replace("port must", "--port must"), e);
        }
        if (!java.nio.file.Files.exists(model.model)) {
            throw new java.nio.file.NoSuchFileException(model.model.toString());
        }
        model.checkThreads();
        if (new java.net.InetSocketAddress(host, 0).isUnresolved()) {
            throw new IllegalArgumentException("--host " + host + " is not an address or a name this machine can resolve");
        }
        if (Cluster.launchedAsFollower()) {
            model.open(Duration.ofSeconds(warmup)); // follows rank 0, which serves; does not return
        }
        OpenAiServer server = OpenAiServer.start(config);
        Cluster.onRankFailure(line -> {
            // another rank of the job is gone: stop taking requests (503) for the moment before this process exits
            server.refuseRequests();
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        err.println("grok1j: listening on " + server.baseUrl() + " (model loading; /health answers 503 until ready)");
        err.flush();
        java.util.concurrent.atomic.AtomicBoolean stopping = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicBoolean serving = new java.util.concurrent.atomic.AtomicBoolean();
        Runnable stop = () -> {
            if (stopping.compareAndSet(false, true)) {
                err.println("grok1j: shutting down");
                err.flush();
            }
            server.close(); // running requests finish within the grace period, then are cancelled
        };
        Thread hook = new Thread(stop, "grok1j-shutdown"); // any other way the JVM ends
        Runtime.getRuntime().addShutdownHook(hook);
        ShutdownSignals.install(() -> {
            boolean loading;
            synchronized (serving) {
                loading = !serving.get();
            }
            stop.run();
            if (loading) {
                System.exit(0); // nothing to finish, no reason to wait for the load
            }
        });
        Model m;
        try {
            long t0 = System.nanoTime();
            m = model.open();
            server.metrics().modelLoaded(Duration.ofNanos(System.nanoTime() - t0));
        } catch (Exception e) {
            Runtime.getRuntime().removeShutdownHook(hook);
            server.close();
            throw e;
        }
        try (m) {
            GenerateCommand.warnIfShort(DoctorCommand.warning(m.file(), m.network().communicator().size(), parallel), err);
            if (warmup > 0) {
                err.println("grok1j: warming up the kernels on layer 0 (rounds for up to " + warmup + " s, then the "
                        + "attention and GELU kernels until compiled; --warmup 0 skips)");
                err.flush();
                long t0 = System.nanoTime();
                int rounds = KernelWarmup.run(m.network(), Duration.ofSeconds(warmup));
                err.printf("grok1j: warm-up done: %d rounds in %.1f s%n", rounds, (System.nanoTime() - t0) / 1e9);
            }
            synchronized (serving) {
                if (stopping.get()) {
                    return 0;
                }
                server.ready(m, prefixCache(m, cacheBytes));
                serving.set(true);
            }
            err.println("grok1j: serving '" + config.modelId() + "' (" + m.config().summary() + ") on " + server.baseUrl()
                    + (key != null ? ", API key required" : "") + "; " + cacheNote);
            err.flush();
            server.awaitTermination();
        }
        return 0;
    }

    /** The model folder or file name; for {@code .../NAME/ckpt-0} the folder above. */
    static String defaultModelId(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path name = abs.getFileName();
        if (name == null) {
            return "grok-1";
        }
        if (name.toString().equals("ckpt-0") && abs.getParent() != null && abs.getParent().getFileName() != null) {
            return abs.getParent().getFileName().toString();
        }
        return name.toString();
    }
}
