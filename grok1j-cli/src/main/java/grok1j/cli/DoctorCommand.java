package grok1j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.format.TensorInfo;
import grok1j.format.gguf.GgufModel;
import grok1j.model.GrokConfig;
import grok1j.model.MemoryPlan.Machine;
import grok1j.model.MemoryPlan.Request;
import grok1j.model.MemoryPlan.WeightBytes;
import grok1j.model.MemoryPlan;
import grok1j.parallel.OpenMpi;
import grok1j.tensor.GgmlType;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.function.IntFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code grok1j doctor}: whether a model will run on this machine (from RAM, from the page cache with disk reads, or
 * not at all) and what would make it fit. Opens the model's headers only; no weight page is read. The arithmetic is
 * {@link MemoryPlan}'s; this class gathers the machine's facts and prints.
 */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "Check whether a model fits this machine before running it: the bytes the weights need (per rank "
                + "under mpirun), the KV cache at the requested context and parallelism, against RAM and free disk; "
                + "says whether it runs from RAM, from the page cache with disk reads (and roughly how slowly), or "
                + "does not fit, and which flag or quantization would fit.")
final class DoctorCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "PATH",
            description = "Checkpoint folder (holding ckpt-0/), ckpt-0/ itself, or a .gguf file.")
    Path model;

    @Option(names = "--ranks", paramLabel = "N",
            description = "Plan for N tensor-parallel hosts like this one (default: the mpirun job's size, else 1).")
    Integer ranks;

    @Option(names = "--context", paramLabel = "N", description = "Positions per sequence (default: the model's context).")
    Integer context;

    @Option(names = "--parallel", paramLabel = "N", defaultValue = "1",
            description = "Sequences decoded together, each with its own KV cache (serve --parallel; default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--ram", paramLabel = "SIZE",
            description = "Plan for hosts with this much available memory (suffix K, M, G, T; default: this machine's MemAvailable).")
    String ram;

    @Option(names = "--cache-ram", paramLabel = "SIZE",
            description = "Prefix-cache budget to plan for (serve --cache-ram; suffix K, M, G, T; default: serve's default "
                    + "on this machine, a quarter of the RAM left after the weights and KV cache).")
    String cacheRam;

    @Option(names = "--json", description = "Print one JSON object instead of the report.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        GgufModel.checkInterleaveSetting(); // for every model, as the other commands
        int n = ranks != null ? ranks : OpenMpi.launchedSize();
        if (n < 1) {
            throw new IllegalArgumentException("--ranks must be positive, got " + n);
        }
        if (parallel < 1) {
            throw new IllegalArgumentException("--parallel must be positive, got " + parallel);
        }
        Long available = ram == null ? null : ConvertCommand.parseSize("--ram", ram);
        PrintStream out = CommandLineContext.out();
        try (ModelFile f = ModelFiles.open(model)) {
            GrokConfig c = f.weights().config();
            int ctx = context != null ? context : c.contextLength();
            if (ctx < 1 || ctx > c.contextLength()) {
                throw new IllegalArgumentException("--context must be between 1 and the model's " + c.contextLength() + ", got " + ctx);
            }
            if (c.kvHeads() % n != 0) {
                throw new IllegalArgumentException("--ranks " + n + " does not divide the model's " + c.kvHeads() + " KV heads");
            }
            Machine m = machine(f.location(), available);
            MemoryPlan plan = plan(f, new Request(n, ctx, parallel, 0), m);
            long prefix = cacheRam != null ? ServeCommand.cacheSize(cacheRam)
                    : MemoryPlan.defaultPrefixCacheBytes(plan.weights(), plan.kvBytes(), m);
            plan = plan(f, new Request(n, ctx, parallel, prefix), m);
            if (json) {
                out.println(new ObjectMapper().writeValueAsString(json(f, plan)));
            } else {
                report(f, plan, ram != null, cacheRam == null, out);
            }
        }
        return 0;
    }

    /** The plan for {@code file} with {@code request} on {@code machine}. */
    static MemoryPlan plan(ModelFile file, Request request, Machine machine) {
        IntFunction<WeightBytes> stored = MemoryPlan.perRank(file.weights(), untiedEmbeddingBytes(file));
        IntFunction<WeightBytes> q4k = MemoryPlan.q4kPerRank(file.weights());
        // converting helps only if it shrinks the file clearly (not for a model that is already 4-bit or smaller)
        // (convert writes Grok-1's tied layout, so an untied model such as Grok-2 is not offered it)
        boolean shrinks = file.weights().output() == null && q4k.apply(1).mapped() < 0.9 * stored.apply(1).mapped();
        return MemoryPlan.of(file.weights().config(), stored, shrinks ? q4k : null, request, machine);
    }

    /**
     * The check at the start of {@code generate}, {@code serve} and {@code bench --model}: one line when the model
     * will not run from RAM on this machine, else null. Never fails the command: facts it cannot read give no line.
     */
    static String warning(ModelFile file, int ranks, int parallel) {
        return warning(file, ranks, parallel, null);
    }

    /** As {@link #warning(ModelFile, int, int)} on a host with {@code ram} bytes available (null: this machine). */
    static String warning(ModelFile file, int ranks, int parallel, Long ram) {
        try {
            GrokConfig c = file.weights().config();
            MemoryPlan p = plan(file, new Request(ranks, c.contextLength(), parallel, 0), machine(file, ram));
            if (p.verdict() == MemoryPlan.Verdict.RUNS_FROM_RAM) {
                return null;
            }
            return "grok1j: warning: this model " + p.summary()
                    + (p.advice().isEmpty() ? "" : "; to fit: " + p.advice().getFirst()) + " (grok1j doctor for details)";
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** A prefix-cache budget in bytes. */
    record Plan(long bytes) {
    }

    /** {@code serve}'s default prefix-cache budget on this machine, or null when the facts cannot be read. */
    static Plan defaultPrefixCache(ModelFile file, int ranks, int parallel) {
        try {
            GrokConfig c = file.weights().config();
            MemoryPlan p = plan(file, new Request(ranks, c.contextLength(), parallel, 0), machine(file, null));
            return new Plan(MemoryPlan.defaultPrefixCacheBytes(p.weights(), p.kvBytes(), p.machine()));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Bytes of a GGUF's {@code token_embd.weight} when the file has its own {@code output.weight}, else 0 (tied). */
    static long untiedEmbeddingBytes(ModelFile file) {
        if (file instanceof GgufModel g && g.untiedOutput()) {
            return file.tensors().stream().filter(t -> t.name().equals("token_embd.weight")).mapToLong(TensorInfo::bytes).sum();
        }
        return 0;
    }

    /**
     * {@link #machine(Path, Long)} for an opened model: the copies it made at open ({@link ModelFile#repack(int, int)}) are
     * in memory already and among its weights' bytes, so they count as available to it.
     */
    private static Machine machine(ModelFile file, Long ram) throws IOException {
        Machine m = machine(file.location(), ram);
        return ram != null || file.copiedBytes() == 0 ? m : new Machine(m.memTotal(),
                m.memAvailable() + file.copiedBytes(), m.diskFree(), m.heapMax(), m.diskBytesPerSecond());
    }

    /** This machine's memory (/proc/meminfo), the free disk where the model lives, the JVM's heap limit. */
    static Machine machine(Path modelLocation, Long availableOverride) throws IOException {
        long total = 0, available = 0;
        Path meminfo = Path.of("/proc/meminfo");
        if (Files.isReadable(meminfo)) {
            for (String line : Files.readAllLines(meminfo)) {
                if (line.startsWith("MemTotal:")) {
                    total = kib(line);
                } else if (line.startsWith("MemAvailable:")) {
                    available = kib(line);
                }
            }
        }
        if (total == 0 && ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            total = os.getTotalMemorySize();
            available = os.getFreeMemorySize();
        }
        if (availableOverride != null) {
            available = availableOverride;
            total = Math.max(total, availableOverride);
        }
        Path where = Files.isDirectory(modelLocation) ? modelLocation : modelLocation.toAbsolutePath().getParent();
        long disk = Files.getFileStore(where).getUsableSpace();
        long heap = Runtime.getRuntime().maxMemory();
        return new Machine(total, available, disk, heap == Long.MAX_VALUE ? 0 : heap, MemoryPlan.ASSUMED_DISK_BYTES_PER_SECOND);
    }

    /**
     * What open would copy for rank 0 ({@code GgufModel#repackPlan}; one rank per host, as {@code --ranks} plans for
     * that many hosts) against this machine's (or {@code --ram}'s) available memory; null for other formats.
     */
    /** What the copies of experts of {@code types} are, e.g. "the interleaved Q4_K layout (19 bytes per 32 weights instead of 18)". */
    static String layouts(java.util.Set<GgmlType> types) {
        return and(types.stream().map(t -> switch (t) {
            case Q6_K -> "one byte per weight with the rows interleaved (Q6_K: 34.5 bytes per 32 weights instead of 26.25)";
            case Q4_K -> "the interleaved Q4_K layout (19 bytes per 32 weights instead of 18)";
            default -> "the interleaved Q8_0 layout (36 bytes per 32 weights instead of 34)";
        }).toList());
    }

    /** "a", "a and b", "a, b and c". */
    static String and(java.util.List<String> items) {
        int n = items.size();
        return n < 2 ? String.join("", items) : String.join(", ", items.subList(0, n - 1)) + " and " + items.get(n - 1);
    }

    private static GgufModel.RepackPlan repackPlan(ModelFile f, int ranks, Machine m) {
        return f instanceof GgufModel g ? g.repackPlan(0, ranks, 1, m.memAvailable()) : null;
    }

    private static long kib(String line) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
    }

    private static void report(ModelFile f, MemoryPlan p, boolean assumedRam, boolean defaultCache, PrintStream out) {
        GrokConfig c = p.config();
        WeightBytes w = p.weights();
        Request r = p.request();
        Machine m = p.machine();
        // the plan first, so that nothing is printed before an error it raises
        GgufModel.RepackPlan plan = repackPlan(f, r.ranks(), m);
        String rank = r.ranks() > 1 ? " per rank of " + r.ranks() : "";
        out.println("model: " + f.location() + " (" + c.layers() + " layers, " + c.experts() + " experts, top-"
                + c.expertsPerToken() + ", context " + c.contextLength() + ")");
        out.println("weights" + rank + ": " + gb(w.resident()) + " read by the forward pass, " + gb(w.mapped()) + " mapped");
        out.printf("  attention %s, experts %s (%d of %d per layer per token: %s), router %s, norms %s, unembedding %s%s%n",
                gb(w.attention()), gb(w.experts()), c.expertsPerToken(), c.experts(), gb(w.activeExperts()), gb(w.router()),
                gb(w.norms()), gb(w.unembedding()), w.dense() > 0 ? ", dense MLP " + gb(w.dense()) : "");
        out.println("  embedding table: " + (w.embedding() == 0 ? "the unembedding (tied)"
                : gb(w.embedding()) + " more, mapped but read one row per token"));
        long decodeStep = decodeStepBytes(w, plan);
        out.println("a decode step reads: " + gb(decodeStep) + rank + (decodeStep == w.perToken() ? ""
                : " (" + (plan.unembeddingCopyBytes() > 0 ? "its experts and unembedding" : "its experts")
                + " from the copy below; " + gb(w.perToken()) + " in the file's rows)"));
        if (plan != null && plan.copyBytes() > 0) {
            boolean fits = plan.fits();
            String against = ": the copy and the rest of the file (" + gb(plan.hostBytes()) + ") against "
                    + Math.round(100 * GgufModel.REPACK_FIT) + " % of the " + gb(m.memAvailable()) + " available";
            String fit = plan.forced()
                    ? "is made without the memory check (-Dgrok1j.gguf.interleave=true)" + (fits ? "" : ", although it does not fit" + against)
                    : fits ? "fits" + against + " (-Dgrok1j.gguf.interleave=false keeps the file's rows)"
                    : "does not fit" + against + ", so open keeps the file's rows (-Dgrok1j.gguf.interleave=true copies anyway)";
            // a plan exists for GGUF models only
            boolean table = plan.unembeddingCopyBytes() > 0;
            out.println((table ? "experts and unembedding: " : "experts: ") + gb(plan.copyBytes()) + rank
                    + " copied at open (in the process's own memory) into " + layouts(((GgufModel) f).repackTypes())
                    + ", faster to decode and prefill, when it fits; here it " + fit);
        } else if (f instanceof GgufModel g && g.interleaveTurnedOff()) {
            out.println((g.repacksUnembedding() ? "experts and unembedding" : "experts") + ": kept in the file's " + and(g.repackTypes().stream().map(Enum::name).toList()) + " rows (-Dgrok1j.gguf.interleave=false); without it "
                    + "open copies them into layouts faster to decode and prefill, when the copy fits in memory");
        }
        out.printf("KV cache%s: %s (%d positions x %d sequence%s x %s, float32)%n", rank, gb(p.kvBytes()), r.context(),
                r.parallel(), r.parallel() == 1 ? "" : "s", bytes(MemoryPlan.kvBytesPerPosition(c, r.ranks())));
        long pc = r.prefixCacheBytes();
        out.println("prefix cache: " + (pc == 0 ? "off" : gb(pc) + (r.ranks() > 1 ? " (off under mpirun)" : ""))
                + (defaultCache ? " (serve's default: a quarter of the RAM left after the weights and KV cache, at most "
                + "half the heap they leave; --cache-ram)" : " (--cache-ram)"));
        out.println("this machine: RAM " + gb(m.memTotal()) + ", available " + gb(m.memAvailable()) + (assumedRam ? " (--ram)" : "") + ", free disk "
                + gb(m.diskFree()) + " where the model lives" + (m.heapMax() > 0 ? ", JVM heap up to " + gb(m.heapMax()) : ""));
        out.println("verdict: " + p.summary());
        for (String a : p.advice()) {
            out.println("  to fit: " + a);
        }
        if (p.heapTooSmall()) {
            out.println("note: the KV cache lives on the JVM heap, which may grow to " + gb(m.heapMax())
                    + " only: set GROK1J_JAVA_OPTS=-Xmx" + ((p.kvBytes() >> 30) + 2) + "g for bin/grok1j");
        }
    }

    /**
     * The weight bytes a decode step reads, per rank: {@link WeightBytes#perToken()}, with the active experts' share
     * of the experts' copy's extra bytes when open makes the copy (every layer takes the same share of its experts, so
     * the active experts' copy is that share of the whole copy), and the unembedding's copy instead of its rows.
     */
    static long decodeStepBytes(WeightBytes w, GgufModel.RepackPlan plan) {
        if (plan == null || !plan.copies() || w.experts() == 0) {
            return w.perToken();
        }
        long expertCopy = plan.copyBytes() - plan.unembeddingCopyBytes();
        return w.perToken() + Math.round((double) (expertCopy - plan.sourceBytes()) * w.activeExperts() / w.experts())
                + plan.unembeddingCopyBytes() - plan.unembeddingRowBytes();
    }

    private static ObjectNode json(ModelFile f, MemoryPlan p) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode o = mapper.createObjectNode();
        WeightBytes w = p.weights();
        o.put("model", f.location().toString());
        GgufModel.RepackPlan plan = repackPlan(f, p.request().ranks(), p.machine());
        o.put("repack_bytes", plan == null ? 0 : plan.copyBytes());
        // repack_fits: whether copy and file fit (true or false, null when there is nothing to copy); repack_copies:
        // whether open makes the copy (also when forced)
        if (plan == null || plan.copyBytes() == 0) {
            o.putNull("repack_fits");
        } else {
            o.put("repack_fits", plan.fits());
        }
        o.put("repack_copies", plan != null && plan.copies());
        o.put("decode_step_bytes", decodeStepBytes(w, plan)); // weight_bytes.per_token counts the file's rows
        o.put("ranks", p.request().ranks());
        o.put("context", p.request().context());
        o.put("parallel", p.request().parallel());
        ObjectNode wb = o.putObject("weight_bytes");
        wb.put("attention", w.attention());
        wb.put("router", w.router());
        wb.put("norms", w.norms());
        wb.put("dense", w.dense());
        wb.put("experts", w.experts());
        wb.put("active_experts", w.activeExperts());
        wb.put("unembedding", w.unembedding());
        wb.put("embedding", w.embedding());
        wb.put("resident", w.resident());
        wb.put("mapped", w.mapped());
        wb.put("per_token", w.perToken());
        o.put("kv_cache_bytes", p.kvBytes());
        o.put("kv_bytes_per_position", MemoryPlan.kvBytesPerPosition(p.config(), p.request().ranks()));
        o.put("prefix_cache_bytes", p.request().prefixCacheBytes());
        ObjectNode mm = o.putObject("machine");
        mm.put("mem_total", p.machine().memTotal());
        mm.put("mem_available", p.machine().memAvailable());
        mm.put("disk_free", p.machine().diskFree());
        mm.put("heap_max", p.machine().heapMax());
        mm.put("assumed_disk_read_bytes_per_second", p.machine().diskBytesPerSecond());
        o.put("verdict", p.verdict().name().toLowerCase(java.util.Locale.ROOT));
        o.put("summary", p.summary());
        o.put("disk_bytes_per_token", p.diskBytesPerToken());
        o.put("seconds_per_token_from_disk", p.secondsPerToken());
        o.set("advice", mapper.valueToTree(p.advice()));
        o.put("heap_too_small", p.heapTooSmall());
        return o;
    }

    private static String gb(long b) {
        return MemoryPlan.gb(b);
    }

    /** Small sizes in KiB (per-position KV), e.g. {@code "512 KiB"}. */
    private static String bytes(long b) {
        return b % 1024 == 0 ? (b / 1024) + " KiB" : b + " B";
    }
}
