package grok1j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.format.ModelFiles;
import grok1j.tokenizer.Tokenizer;
import grok1j.format.ModelFile;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
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
                "With --decode, read ids (a JSON array or comma-separated; with --jsonl an \"ids\" field or a bare array "
                        + "per line) and print the text as a JSON string.",
                "The tokenizer is --tokenizer, else the one of --model (found as every other command finds it)."})
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, paramLabel = "PATH",
            description = "Use this model's tokenizer: a checkpoint folder, ckpt-0/ itself, or a .gguf file.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.model, tokenizer.tok.json (Grok-2), or a .gguf file with an embedded vocabulary (wins over --model's).")
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
        if (model == null && tokenizer == null) {
            throw new IllegalArgumentException("give --model PATH or --tokenizer PATH");
        }
        Tokenizer tok;
        if (tokenizer != null) {
            tok = ModelFiles.loadTokenizer(tokenizer);
        } else {
            try (ModelFile f = ModelFiles.open(model)) {
                tok = ModelFiles.tokenizer(f, null);
            }
        }
        ObjectMapper mapper = new ObjectMapper();
        PrintStream out = CommandLineContext.out();
        if (text != null) {
            out.println(decode ? mapper.writeValueAsString(tok.decode(parseIds(mapper, text, tok)))
                    : mapper.writeValueAsString(tok.encode(text)));
            return 0;
        }
        try (InputStream in = new BufferedInputStream(jsonl.equals("-") ? System.in : Files.newInputStream(Path.of(jsonl)))) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            int lineNo = 0;
            while (readLine(in, bytes)) {
                lineNo++;
                String line = utf8(bytes, jsonl + ":" + lineNo);
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

    /** Reads up to the next {@code \n} (dropped, with a {@code \r} before it) into {@code line}; false at the end. */
    private static boolean readLine(InputStream in, ByteArrayOutputStream line) throws IOException {
        line.reset();
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            line.write(b);
        }
        if (b < 0 && line.size() == 0) {
            return false;
        }
        return true;
    }

    /** The line as text; bytes that are not UTF-8 are an error naming the line and the byte. */
    private static String utf8(ByteArrayOutputStream line, String where) {
        byte[] b = line.toByteArray();
        int n = b.length > 0 && b[b.length - 1] == '\r' ? b.length - 1 : b.length;
        ByteBuffer in = ByteBuffer.wrap(b, 0, n);
        CharBuffer out = CharBuffer.allocate(n);
        CoderResult r = StandardCharsets.UTF_8.newDecoder().decode(in, out, true);
        if (r.isError()) {
            throw new IllegalArgumentException(where + ": not valid UTF-8 (byte " + (in.position() + 1) + " of the line is 0x"
                    + String.format("%02X", b[in.position()] & 0xFF) + ")");
        }
        return out.flip().toString();
    }

    private static int[] parseIds(ObjectMapper mapper, String s, Tokenizer tok) throws Exception {
        String t = s.trim();
        if (t.startsWith("[")) {
            JsonNode arr;
            try { // trailing text ("[5] x") is an error too, not ignored
                arr = mapper.reader().with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                        .readTree(t);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalArgumentException("--decode: not a JSON array of token ids (like [1, 2, 3]): " + t);
            }
            return toIds(arr, tok, "--decode");
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
                throw new IllegalArgumentException("--decode: not a token id: " + parts[i]);
            }
            checkId(ids[i], tok, "--decode");
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
