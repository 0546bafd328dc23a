package grok1j.cli;

import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.format.TensorInfo;
import grok1j.format.WeightCheck;
import grok1j.model.Architecture;
import grok1j.model.GrokConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code grok1j inspect}: hyperparameters and stored tensors, without touching the weights' pages. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Show a model's hyperparameters and its tensors (name, shape, type, bytes).",
                "With --check, also read every weight and list the tensors holding NaN, Inf or absurd values "
                        + "(exit status 2 if any does)."})
final class InspectCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "PATH",
            description = "Checkpoint folder (holding ckpt-0/), ckpt-0/ itself, a Grok-2 folder, or a .gguf file.")
    Path model;

    @Option(names = "--check", description = "Scan every weight for NaN, Inf and absurd magnitudes (reads the whole model).")
    boolean check;

    @Override
    public Integer call() throws Exception {
        PrintStream out = CommandLineContext.out();
        try (ModelFile f = ModelFiles.open(model)) {
            GrokConfig c = f.weights().config();
            out.println("location: " + f.location());
            for (Map.Entry<String, String> e : f.metadata().entrySet()) {
                out.println(e.getKey() + ": " + e.getValue());
            }
            if (!f.metadata().containsKey("tokenizer")) {
                out.println("tokenizer: " + (f.tokenizerPath() == null ? "(none found)" : f.tokenizerPath()));
            }
            out.println();
            out.println("hyperparameters:");
            out.printf("  vocab_size                 %d%n", c.vocabSize());
            out.printf("  hidden_size (d_model)      %d%n", c.dModel());
            out.printf("  num_hidden_layers          %d%n", c.layers());
            out.printf("  num_attention_heads        %d%n", c.queryHeads());
            out.printf("  num_key_value_heads        %d%n", c.kvHeads());
            out.printf("  head_dim                   %d%n", c.headDim());
            out.printf("  intermediate_size (expert) %d%n", c.expertFfn());
            out.printf("  num_experts                %d (top-%d)%n", c.experts(), c.expertsPerToken());
            out.printf("  max_position_embeddings    %d%n", c.contextLength());
            out.printf("  rope_theta                 %s%n", c.ropeTheta());
            out.printf("  rms_norm_eps               %s%n", c.rmsEps());
            String applied = c.architecture().bf16Multipliers() ? "bf16" : "float32";
            out.printf("  embedding multiplier       %s (applied as %s %s)%n", c.embeddingMultiplier(), applied, c.effectiveEmbeddingMultiplier());
            out.printf("  output multiplier          %s (applied as %s %s)%n", c.outputMultiplier(), applied, c.effectiveOutputMultiplier());
            out.printf("  attention logit multiplier %s%n", c.attnOutputMultiplier());
            out.printf("  attention logit soft-cap   %s%n", c.attnSoftcap());
            Architecture a = c.architecture();
            if (!a.equals(Architecture.grok1())) {
                out.printf("  architecture               %s: %s GELU, padding keys %s%n", a.name(), a.erfGelu() ? "erf" : "tanh",
                        a.padKeyMask() ? "masked" : "not masked");
                out.printf("  router logit soft-cap      %s%n", a.routerSoftcap());
                out.printf("  attn_temperature_len       %s%n", a.attnTemperatureLength() > 0 ? a.attnTemperatureLength() : "off");
                out.printf("  final logit soft-cap       %s%n", a.finalSoftcap() > 0 ? a.finalSoftcap() : "off");
                out.printf("  intermediate_size (dense)  %s%n", a.residualDenseMlp() ? a.denseFfn() : "none");
                out.printf("  output projection          %s%n", f.weights().output() != null ? "untied (lm_head)" : "tied");
            }
            out.println();
            long total = 0;
            out.printf("tensors (%d):%n", f.tensors().size());
            for (TensorInfo t : f.tensors()) {
                out.printf("  %-58s %-20s %-28s %,15d bytes%n", t.name(), Arrays.toString(t.shape()), t.type(), t.bytes());
                total += t.bytes();
            }
            out.printf("total: %,d bytes (%.2f GiB)%n", total, total / (double) (1L << 30));
            if (check) {
                return check(f, out, total);
            }
        }
        return 0;
    }

    /** Scans the weights with a progress bar on stderr; lists the bad tensors; 2 if there are any. */
    private static int check(ModelFile f, PrintStream out, long total) throws IOException {
        List<WeightCheck.Finding> found;
        try (ProgressBar bar = ProgressBars.start("check", total, CommandLineContext.err())) {
            found = WeightCheck.scan(f, (tensor, done, all) -> {
                bar.stepTo(done);
                bar.setExtraMessage(" " + tensor);
            });
            bar.stepTo(total);
        }
        out.println();
        if (found.isEmpty()) {
            out.printf("check: every weight of the %d tensors is finite, none above %.0e (int8 scales: %.0e)%n",
                    f.tensors().size(), WeightCheck.ABSURD_VALUE, WeightCheck.ABSURD_SCALE);
            return 0;
        }
        out.printf("check: %d of %d tensors hold NaN, Inf or absurd values:%n", found.size(), f.tensors().size());
        for (WeightCheck.Finding x : found) {
            out.println("  " + x);
        }
        CommandLineContext.err().println("grok1j: " + (found.size() == 1 ? "1 tensor holds" : found.size() + " tensors hold")
                + " NaN, Inf or absurd values, first "
                + found.getFirst().tensor());
        return Main.EXIT_BAD_INPUT;
    }
}
