package grok1j.cli;

import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.format.gguf.GgufConverter;
import grok1j.format.gguf.GgufProgress;
import grok1j.format.gguf.GgufVocab;
import grok1j.format.gguf.GgufWriter;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import grok1j.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code grok1j convert}: official Grok-1 checkpoint, Grok-2 folder (or GGUF) to GGUF, tensor by tensor. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Convert a Grok-1 checkpoint, a Grok-2 folder or a GGUF file to GGUF (architecture grok), streaming one tensor at a time "
                + "(a Grok-2 expert is read from its 8 rank slices in place). "
                + "Matrices whose input dimension is not a multiple of the type's block, or whose int8 scale groups are "
                + "narrower than a block, are written as F16; norms and the router stay F32."})
final class ConvertCommand implements Callable<Integer> {
    @Option(names = "--type", required = true, paramLabel = "T", description = "f32, f16, bf16, q8_0, q4_k or q6_k.")
    String type;

    @Option(names = "--split-max-size", paramLabel = "SIZE",
            description = "Split into shards of at most SIZE bytes (suffix K, M, G: e.g. 50G), named NAME-00001-of-0000N.gguf.")
    String splitMaxSize;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.model or tokenizer.tok.json (default: found beside the checkpoint).")
    Path tokenizer;

    @Option(names = "--name", paramLabel = "NAME", description = "general.name (default: grok-1 or grok-2, the model's architecture).")
    String name;

    @Option(names = {"-t", "--threads"}, paramLabel = "T",
            description = "Threads that read and quantize (default: all cores); the output does not depend on it.")
    Integer threads;

    @Option(names = "--oversubscribe-threads", description = "Allow --threads above the core count.")
    boolean oversubscribe;

    @Option(names = "--allow-requantize",
            description = "From a GGUF input, quantize matrices that are already quantized to another type (their "
                    + "roundings compound; converting the original checkpoint is better).")
    boolean allowRequantize;

    @Parameters(index = "0", paramLabel = "INPUT", description = "Checkpoint folder (holding ckpt-0/), ckpt-0/ itself, a Grok-2 folder, or a .gguf file.")
    Path input;

    @Parameters(index = "1", paramLabel = "OUTPUT", description = "The .gguf file to write.")
    Path output;

    @Override
    public Integer call() throws Exception {
        GgmlType t = parseType(type);
        int nThreads = ThreadCount.resolve(threads, oversubscribe);
        long maxShard = splitMaxSize == null ? 0 : parseSize(splitMaxSize);
        if (Files.isDirectory(output)) {
            throw new IllegalArgumentException(output + " is a directory; give the .gguf file to write");
        }
        Path folder = output.toAbsolutePath().getParent();
        if (folder != null && !Files.isDirectory(folder)) {
            throw new IllegalArgumentException("cannot write " + output + ": no such directory " + folder);
        }
        PrintStream err = CommandLineContext.err();
        try (ModelFile in = ModelFiles.open(input); ThreadPool pool = new ThreadPool(nThreads)) {
            Tokenizer tok = ModelFiles.tokenizer(in, tokenizer);
            GgufVocab vocab = GgufVocab.of(tok);
            String generalName = name != null ? name : in.weights().config().architecture().name();
            GgufWriter plan = GgufConverter.plan(in.weights(), vocab, t, generalName);
            if (!allowRequantize && ModelFiles.isGguf(in.location())) {
                checkNotRequantizing(in.tensors(), plan.types(), t, input);
            }
            warnAboutPlan(err, plan, t, maxShard);
            long total = plan.dataBytes();
            long started = System.nanoTime();
            List<Path> written;
            try (ProgressBar bar = ProgressBars.start("convert " + t.name().toLowerCase(Locale.ROOT), total, err)) {
                GgufProgress progress = (tensor, done, all) -> {
                    bar.stepTo(done);
                    bar.setExtraMessage(" " + tensor);
                };
                written = GgufConverter.convert(in.weights(), vocab, t, generalName, output, maxShard, progress, pool);
                bar.stepTo(total);
            }
            double secs = (System.nanoTime() - started) / 1e9;
            for (Path p : written) {
                err.printf("wrote %s (%,d bytes)%n", p, Files.size(p));
            }
            err.printf("%,d bytes of tensor data in %.1f s%n", total, secs);
        }
        return 0;
    }

    /**
     * Says before writing which matrices fall back to F16 (naming each) and which tensors must exceed
     * {@code --split-max-size} (a tensor is never split), so a file is never other than asked without a word.
     */
    static void warnAboutPlan(PrintStream err, GgufWriter plan, GgmlType requested, long maxShard) {
        if (requested != GgmlType.F16 && requested != GgmlType.F32) {
            List<String> f16 = plan.types().entrySet().stream().filter(e -> e.getValue() == GgmlType.F16)
                    .map(Map.Entry::getKey).toList();
            long matrices = plan.types().values().stream().filter(v -> v != GgmlType.F32).count();
            if (!f16.isEmpty()) {
                String why = requested == GgmlType.Q8_0 && f16.equals(List.of("token_embd.weight"))
                        ? "the embedding is also the output projection; F16 keeps it exact"
                        : "input dimension not a multiple of the " + requested + " block of " + requested.blockSize()
                        + ", or int8 scale groups narrower than a block";
                if (f16.size() == matrices) { // a file named for a type it holds none of: say so first
                    err.printf("warning: no matrix can be %s: all %d written as F16 (%s): %s%n", requested, matrices,
                            why, String.join(", ", f16));
                } else {
                    err.printf("warning: %d of %d matrices written as F16 instead of %s (%s): %s%n", f16.size(), matrices,
                            requested, why, String.join(", ", f16));
                }
            }
        }
        for (Map.Entry<String, Long> e : plan.tensorsLargerThan(maxShard).entrySet()) {
            err.printf("warning: tensor %s (%,d bytes) is larger than --split-max-size (%,d bytes); its shard will exceed"
                    + " the limit (tensors are never split)%n", e.getKey(), e.getValue(), maxShard);
        }
    }

    /**
     * Refuses to quantize a GGUF's quantized matrices to another quantized type, as llama.cpp's {@code llama-quantize}
     * does without {@code --allow-requantize}: the new rounding adds to the old one, and a user who meant to make a
     * smaller file should start from the original weights. Only matrices the plan writes as {@code target} count: the
     * same type (rewritten), float targets and F16 fallbacks are allowed.
     *
     * @param planned the output's tensor types by name ({@link GgufWriter#types()}), the input's GGUF names
     */
    static void checkNotRequantizing(List<grok1j.format.TensorInfo> tensors, Map<String, GgmlType> planned,
                                     GgmlType target, Path input) {
        if (!target.quantized()) {
            return;
        }
        java.util.SortedSet<String> others = new java.util.TreeSet<>();
        for (grok1j.format.TensorInfo ti : tensors) {
            GgmlType source = GgmlType.parse(ti.type());
            if (source != null && source.quantized() && source != target && planned.get(ti.name()) == target) {
                others.add(source.name());
            }
        }
        if (!others.isEmpty()) {
            throw new IllegalArgumentException(input + " holds " + String.join(" and ", others) + " matrices; converting "
                    + "them to " + target.name().toLowerCase(Locale.ROOT) + " quantizes weights already quantized (the "
                    + "roundings compound): convert the original checkpoint, or add --allow-requantize");
        }
    }

    static GgmlType parseType(String s) {
        for (GgmlType t : GgufConverter.TYPES) {
            if (t.name().equalsIgnoreCase(s)) {
                return t;
            }
        }
        throw new IllegalArgumentException("--type " + s + " is not supported; choose one of "
                + GgufConverter.TYPES.stream().map(t -> t.name().toLowerCase(Locale.ROOT)).toList());
    }

    static long parseSize(String s) {
        return parseSize("--split-max-size", s);
    }

    /** A positive byte count such as {@code 500M} or {@code 50G}; the error names {@code option}. */
    static long parseSize(String option, String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        long mult = 1;
        if (t.endsWith("B")) {
            t = t.substring(0, t.length() - 1);
        }
        if (t.endsWith("K")) { mult = 1L << 10; t = t.substring(0, t.length() - 1); }
        else if (t.endsWith("M")) { mult = 1L << 20; t = t.substring(0, t.length() - 1); }
        else if (t.endsWith("G")) { mult = 1L << 30; t = t.substring(0, t.length() - 1); }
        else if (t.endsWith("T")) { mult = 1L << 40; t = t.substring(0, t.length() - 1); }
        try {
            long v = Math.multiplyExact(Long.parseLong(t), mult);
            if (v <= 0) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException(option + " " + s + " is not a size (e.g. 500M, 50G)");
        }
    }
}
