package grok1j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.generate.GenerationContext;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.TokenListener;
import grok1j.model.Model;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code grok1j generate}: streams a continuation of the prompt. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Continue a prompt. Streams the text to stdout; statistics go to stderr.",
                "Sampling defaults follow llama.cpp (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05);",
                "--temperature 0 is greedy."})
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = {"-p", "--prompt"}, required = true, paramLabel = "TEXT", description = "The prompt (no BOS is added, as in the reference).")
    String prompt;

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", defaultValue = "256", description = "Maximum new tokens (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.8", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "40", description = "0 disables (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "0.95", description = "1 disables (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "0.05", description = "0 disables (default: ${DEFAULT-VALUE}).")
    double minP;

    @Option(names = "--seed", paramLabel = "S", description = "Seed for reproducible sampling (default: random).")
    Long seed;

    @Option(names = "--stop", paramLabel = "STR", description = "Stop before this string (repeatable).")
    List<String> stop;

    @Option(names = "--ignore-eos", description = "Keep generating after the end-of-sequence token.")
    boolean ignoreEos;

    @Option(names = "--json", description = "Print one JSON object (prompt_ids, ids, text, finish_reason) instead of streaming.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (prompt.isEmpty()) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        SamplingParams params = new SamplingParams(temperature, topK, topP, minP, seed, maxTokens, stop, ignoreEos);
        PrintStream out = CommandLineContext.out();
        PrintStream err = CommandLineContext.err();
        try (Model m = model.open()) {
            warnIfShort(DoctorCommand.warning(m.file(), m.network().communicator().size(), 1), err);
            int[] promptIds = m.tokenizer().encode(prompt);
            GenerationContext ctx = m.newContext();
            TokenListener listener = json ? TokenListener.NONE : (id, text) -> {
                if (!text.isEmpty()) {
                    out.print(text);
                    out.flush();
                }
            };
            GenerationResult r = ctx.generate(promptIds, params, listener);
            if (json) {
                ObjectMapper mapper = new ObjectMapper();
                ObjectNode o = mapper.createObjectNode();
                o.set("prompt_ids", mapper.valueToTree(r.promptIds()));
                o.set("ids", mapper.valueToTree(r.ids()));
                o.put("text", r.text());
                o.put("finish_reason", r.finishReason().apiName());
                out.println(mapper.writeValueAsString(o));
            } else {
                out.println();
            }
            out.flush();
            double speed = r.decodeTokensPerSecond();
            err.printf("prompt tokens: %d, time to first token: %s, generated: %d tokens, %s, finish: %s%n",
                    r.promptIds().length, r.ids().length == 0 ? "n/a" : String.format("%.1f ms", r.timeToFirstTokenNanos() / 1e6),
                    r.ids().length, Double.isNaN(speed) ? "n/a tokens/s" : String.format("%.2f tokens/s", speed),
                    r.finishReason().apiName());
        }
        return 0;
    }

    /** Prints the memory check's line, if any (the model will not run from RAM). */
    static void warnIfShort(String line, PrintStream err) {
        if (line != null) {
            err.println(line);
            err.flush();
        }
    }
}
