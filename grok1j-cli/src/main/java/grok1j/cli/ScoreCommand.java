package grok1j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.model.Model;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code grok1j score}: one forward pass over a prompt, logits at every position. */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Run the prompt through the model once and print, per position, the top logits and the log-probability of the next prompt token.")
final class ScoreCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "Text to tokenize and score.")
        String prompt;

        @Option(names = "--ids", paramLabel = "IDS", split = ",", description = "Token ids, comma-separated.")
        int[] ids;
    }

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "10", description = "Logits to list per position (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--json", description = "Print JSON (the default output is a table).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (topK < 1) {
            throw new IllegalArgumentException("--top-k must be >= 1, got " + topK);
        }
        PrintStream out = CommandLineContext.out();
        try (Model m = model.open()) {
            int[] ids;
            if (input.prompt != null) {
                if (input.prompt.isEmpty()) {
                    throw new IllegalArgumentException("the prompt is empty");
                }
                ids = m.tokenizer().encode(input.prompt);
            } else {
                ids = input.ids;
            }
            int vocab = m.config().vocabSize();
            for (int id : ids) {
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
                }
            }
            float[] logits = m.newContext().score(ids);
            int k = Math.min(topK, vocab);
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode root = mapper.createObjectNode();
            root.set("ids", mapper.valueToTree(ids));
            ArrayNode positions = root.putArray("positions");
            for (int p = 0; p < ids.length; p++) {
                int off = p * vocab;
                int[] top = Logits.topK(logits, off, vocab, k);
                ObjectNode pos = positions.addObject();
                ArrayNode arr = pos.putArray("top");
                for (int id : top) {
                    arr.addArray().add(id).add(logits[off + id]);
                }
                if (p + 1 < ids.length) {
                    pos.put("logprob_next", Logits.logSoftmaxAt(logits, off, vocab, ids[p + 1]));
                } else {
                    pos.putNull("logprob_next");
                }
                if (!json) {
                    StringBuilder b = new StringBuilder();
                    b.append(String.format("%5d %8d %-16s", p, ids[p], Logits.quotePiece(m.tokenizer().piece(ids[p]))));
                    b.append(p + 1 < ids.length ? String.format(" logprob(next) %9.4f  top:", pos.get("logprob_next").asDouble()) : " logprob(next)       n/a  top:");
                    for (int j = 0; j < k; j++) {
                        b.append(String.format(" %d:%.4f", top[j], logits[off + top[j]]));
                    }
                    out.println(b);
                }
            }
            if (json) {
                out.println(mapper.writeValueAsString(root));
            }
        }
        return 0;
    }
}
