package grok1j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.generate.GenerationContext;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.TokenListener;
import grok1j.model.Model;
import grok1j.generate.LogitsProcessing;
import grok1j.generate.constraint.JsonSchemaConstraint;
import grok1j.generate.constraint.SchemaException;
import grok1j.generate.constraint.TokenIndex;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code grok1j generate}: streams a continuation of the prompt. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Continue a prompt. Streams the text to stdout; statistics go to stderr.",
                "Sampling defaults follow llama.cpp (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05); "
                        + "--temperature 0 or --top-p 0 is greedy."})
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "The prompt (no BOS is added, as in the reference).")
        String prompt;

        @Option(names = "--ids", paramLabel = "IDS", split = ",", description = "The prompt as token ids, comma-separated.")
        int[] ids;
    }

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", defaultValue = "256", description = "Maximum new tokens (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.8", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "40", description = "0 or -1 disables (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "0.95", description = "1 disables, 0 is greedy (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "0.05", description = "0 disables (default: ${DEFAULT-VALUE}).")
    double minP;

    @Option(names = "--seed", paramLabel = "S", description = "Seed for reproducible sampling (default: random).")
    Long seed;

    @Option(names = "--stop", paramLabel = "STR", description = "Stop before this string (repeatable).")
    List<String> stop;

    @Option(names = "--ignore-eos", description = "Keep generating after the end-of-sequence token.")
    boolean ignoreEos;

    @Option(names = "--json-schema", paramLabel = "FILE",
            description = "Constrain the output to a JSON document matching this JSON schema (README \"Structured outputs\").")
    Path jsonSchema;

    @Option(names = "--presence-penalty", paramLabel = "P", defaultValue = "0", description = "OpenAI presence penalty in [-2, 2] (default: ${DEFAULT-VALUE}).")
    double presencePenalty;

    @Option(names = "--frequency-penalty", paramLabel = "P", defaultValue = "0", description = "OpenAI frequency penalty in [-2, 2] (default: ${DEFAULT-VALUE}).")
    double frequencyPenalty;

    @Option(names = {"--repetition-penalty", "--repeat-penalty"}, paramLabel = "P", defaultValue = "1",
            description = "Repetition penalty over prompt and output, as vLLM; 1 disables (default: ${DEFAULT-VALUE}).")
    double repetitionPenalty;

    @Option(names = "--logit-bias", paramLabel = "ID=BIAS", split = ",",
            description = "Add BIAS in [-100, 100] to token ID's logit (repeatable or comma-separated).")
    Map<Integer, Float> logitBias;

    @Option(names = "--json", description = "Print one JSON object (prompt_ids, ids, text, finish_reason) instead of streaming.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (input.prompt != null ? input.prompt.isEmpty() : input.ids.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        String schema = null;
        if (jsonSchema != null) {
            try {
                schema = Files.readString(jsonSchema);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read the JSON schema " + jsonSchema + ": " + e.getMessage());
            }
            try {
                JsonSchemaConstraint.check(schema); // before loading the model
            } catch (SchemaException e) {
                throw new IllegalArgumentException(jsonSchema + ": " + e.getMessage());
            }
        }
        LogitsProcessing processing = LogitsProcessing.NONE.withLogitBias(logitBias)
                .withPenalties(presencePenalty, frequencyPenalty, repetitionPenalty);
        PrintStream out = CommandLineContext.out();
        PrintStream err = CommandLineContext.err();
        try (Model m = model.open()) {
            warnIfShort(DoctorCommand.warning(m.file(), m.network().communicator().size(), 1), err);
            int[] promptIds = input.prompt != null ? m.tokenizer().encode(input.prompt) : input.ids;
            int vocab = m.config().vocabSize();
            for (int id : promptIds) {
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("--ids: token id " + id + " outside the vocabulary [0, " + vocab + ")");
                }
            }
            if (logitBias != null) {
                for (int id : logitBias.keySet()) {
                    if (id >= m.config().vocabSize()) {
                        throw new IllegalArgumentException("--logit-bias: token " + id + " is outside the vocabulary of "
                                + m.config().vocabSize());
                    }
                }
            }
            if (schema != null) {
                processing = processing.withConstraint(JsonSchemaConstraint.compile(schema, TokenIndex.of(m.tokenizer())));
            }
            SamplingParams params = new SamplingParams(temperature, topK, topP, minP, seed, maxTokens, stop, ignoreEos, processing);
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
            if (processing.active() && r.ids().length > 1) {
                // the masking-cost benchmark: logit processing (masks included) against the rest of a decode step
                // (forward pass and sampling; the first token's step, which includes the prefill, is left out)
                double processingMs = ctx.lastProcessingNanos() / 1e6 / r.ids().length;
                double stepMs = (r.totalNanos() - r.timeToFirstTokenNanos()) / 1e6 / (r.ids().length - 1);
                err.printf("logit processing: %.3f ms/token; rest of a decode step (forward pass, sampling): %.3f ms/token%n",
                        processingMs, stepMs - processingMs);
            }
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
