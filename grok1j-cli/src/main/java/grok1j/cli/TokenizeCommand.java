package grok1j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.format.ModelFiles;
import grok1j.tokenizer.Tokenizer;
import java.io.BufferedReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code grok1j tokenize}: text to ids (or back with --decode), exactly as SentencePiece or tiktoken. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Print the token ids of TEXT as a JSON array (no BOS is added).",
                "With --jsonl, read objects with a \"text\" field, one per line, and print one array per line.",
                "With --decode, read ids (a JSON array or comma-separated; with --jsonl an \"ids\" field or a bare array per line)",
                "and print the text as a JSON string."})
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--tokenizer", required = true, paramLabel = "PATH", description = "tokenizer.model, tokenizer.tok.json (Grok-2), or a .gguf file with an embedded vocabulary.")
    Path tokenizer;

    @Option(names = "--jsonl", paramLabel = "FILE", description = "Read one JSON object per line ('-' for stdin).")
    String jsonl;

    @Option(names = "--decode", description = "Turn ids back into text.")
    boolean decode;

    @Parameters(arity = "0..1", paramLabel = "TEXT", description = "The text (or ids with --decode).")
    String text;

    @Override
    public Integer call() throws Exception {
        if ((jsonl == null) == (text == null)) {
            throw new IllegalArgumentException("give either TEXT or --jsonl FILE");
        }
        if (jsonl != null && !jsonl.equals("-") && Files.isDirectory(Path.of(jsonl))) {
            throw new IllegalArgumentException(jsonl + ": is a directory, expected a JSON-lines file");
        }
        Tokenizer tok = ModelFiles.loadTokenizer(tokenizer);
        ObjectMapper mapper = new ObjectMapper();
        PrintStream out = CommandLineContext.out();
        if (text != null) {
            out.println(decode ? mapper.writeValueAsString(tok.decode(parseIds(mapper, text, tok)))
                    : mapper.writeValueAsString(tok.encode(text)));
            return 0;
        }
        try (BufferedReader in = jsonl.equals("-")
                ? new BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8))
                : Files.newBufferedReader(Path.of(jsonl), StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode node;
                try {
                    node = mapper.readTree(line);
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new IllegalArgumentException(jsonl + ":" + lineNo + ": not valid JSON");
                }
                if (decode) {
                    JsonNode ids = node.isArray() ? node : node.get("ids");
                    if (ids == null || !ids.isArray()) {
                        throw new IllegalArgumentException(jsonl + ":" + lineNo + ": expected an \"ids\" array");
                    }
                    out.println(mapper.writeValueAsString(tok.decode(toIds(ids, tok, jsonl + ":" + lineNo))));
                } else {
                    JsonNode t = node.get("text");
                    if (t == null || !t.isTextual()) {
                        throw new IllegalArgumentException(jsonl + ":" + lineNo + ": expected a \"text\" string field");
                    }
                    out.println(mapper.writeValueAsString(tok.encode(t.asText())));
                }
            }
        }
        return 0;
    }

    private static int[] parseIds(ObjectMapper mapper, String s, Tokenizer tok) throws Exception {
        String t = s.trim();
        if (t.startsWith("[")) {
            return toIds(mapper.readTree(t), tok, "ids");
        }
        if (t.isEmpty()) {
            return new int[0];
        }
        String[] parts = t.split("[,\\s]+");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a token id: '" + parts[i] + "'");
            }
            checkId(ids[i], tok, "ids");
        }
        return ids;
    }

    private static int[] toIds(JsonNode arr, Tokenizer tok, String where) {
        int[] ids = new int[arr.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode n = arr.get(i);
            if (!n.canConvertToInt() || !n.isIntegralNumber()) {
                throw new IllegalArgumentException(where + ": not a token id: " + n);
            }
            ids[i] = n.asInt();
            checkId(ids[i], tok, where);
        }
        return ids;
    }

    private static void checkId(int id, Tokenizer tok, String where) {
        if (id < 0 || id >= tok.vocabSize()) {
            throw new IllegalArgumentException(where + ": token id " + id + " outside the vocabulary [0, " + tok.vocabSize() + ")");
        }
    }
}
