package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The CLI's output contract and its one-line errors (exit status 2) on bad input. */
class CliTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static Path shared;
    static Path tiny;
    static JsonNode expected;
    static final String PROMPT = "The answer to life the universe and everything is of course";

    Path tmp;

    @BeforeEach
    void makeTemp() throws IOException {
        tmp = Files.createTempDirectory("grok1j-cli-test");
    }

    /** Deletes the temp tree; symlinks are removed, never followed (JUnit's @TempDir warns about each one). */
    @AfterEach
    void deleteTemp() throws IOException {
        try (Stream<Path> walk = Files.walk(tmp)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    record Run(int status, String out, String err) {
        String errLine() {
            return err.lines().filter(l -> !l.startsWith("WARNING")).findFirst().orElse("");
        }
    }

    @BeforeAll
    static void paths() throws IOException {
        shared = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize();
        tiny = shared.resolve("fixtures/grok-1-tiny");
        expected = JSON.readTree(tiny.resolve("expected.json").toFile());
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static void assertBadInput(Run r, String... mustContain) {
        assertEquals(2, r.status(), "exit status; stderr: " + r.err());
        String line = r.errLine();
        assertTrue(line.startsWith("grok1j: "), line);
        for (String s : mustContain) {
            assertTrue(line.contains(s), "error line should mention '" + s + "': " + line);
        }
        assertEquals(1, r.err().lines().filter(l -> !l.startsWith("WARNING") && !l.startsWith("Try ")).count(),
                "one line of error: " + r.err());
    }

    /** A copy of the tiny fixture made of symlinks, so single shards can be replaced cheaply. */
    Path fixtureCopy() throws IOException {
        Path root = tmp.resolve("model");
        Path ckpt = Files.createDirectories(root.resolve("ckpt-0"));
        try (Stream<Path> files = Files.list(tiny.resolve("ckpt-0"))) {
            for (Path f : files.toList()) {
                Files.createSymbolicLink(ckpt.resolve(f.getFileName()), f);
            }
        }
        Files.copy(tiny.resolve("config.json"), root.resolve("config.json"));
        Files.createSymbolicLink(root.resolve("tokenizer.model"), tiny.resolve("tokenizer.model"));
        return root;
    }

    /** A bad {@code -Dgrok1j.gguf.interleave} is refused for a checkpoint too, not only for GGUF files. */
    @Test
    void badInterleaveSettingIsRefusedForEveryModel() {
        System.setProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY, "maybe");
        try {
            for (String[] args : new String[][] {{"generate", "--prompt", "hi", "--max-tokens", "1"}, {"score", "--prompt", "hi"},
                    {"doctor"}}) {
                String[] withModel = java.util.Arrays.copyOf(args, args.length + 2);
                withModel[args.length] = "--model";
                withModel[args.length + 1] = tiny.toString();
                Run r = run(withModel);
                assertBadInput(r, "-Dgrok1j.gguf.interleave must be true or false, got \"maybe\"");
                assertEquals("", r.out(), args[0]);
            }
        } finally {
            System.clearProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY);
        }
    }

    @Test
    void generateJsonGivesTheReferenceGreedyTokens() throws IOException {
        JsonNode c = expected.get("cases").get(0);
        Run r = run("generate", "--model", tiny.toString(), "--prompt", c.get("prompt").asText(), "--max-tokens", "12",
                "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode o = JSON.readTree(r.out());
        assertEquals(c.get("prompt_ids"), o.get("prompt_ids"));
        List<Integer> want = new ArrayList<>();
        c.get("greedy").forEach(g -> want.add(g.get("token").asInt()));
        List<Integer> got = new ArrayList<>();
        o.get("ids").forEach(i -> got.add(i.asInt()));
        assertEquals(want, got);
        assertEquals("length", o.get("finish_reason").asText());
        assertTrue(o.get("text").asText().startsWith(" "), "the continuation keeps its leading space: " + o.get("text"));
    }

    @Test
    void generateStreamsTheSameTextAndReportsStatistics() throws IOException {
        Run json = run("generate", "--model", tiny.toString(), "--prompt", PROMPT, "--max-tokens", "12", "--temperature", "0", "--json");
        Run stream = run("generate", "--model", tiny.toString(), "--prompt", PROMPT, "--max-tokens", "12", "--temperature", "0");
        assertEquals(0, stream.status(), stream.err());
        assertEquals(JSON.readTree(json.out()).get("text").asText() + System.lineSeparator(), stream.out());
        assertTrue(stream.err().contains("prompt tokens: 11"), stream.err());
        assertTrue(stream.err().contains("time to first token"), stream.err());
        assertTrue(stream.err().contains("tokens/s"), stream.err());
    }

    @Test
    void seededSamplingIsReproducible() {
        String[] args = {"generate", "--model", tiny.toString(), "--prompt", PROMPT, "--max-tokens", "8", "--temperature", "1.0",
                "--seed", "1234", "--json"};
        Run a = run(args);
        Run b = run(args);
        assertEquals(0, a.status(), a.err());
        assertEquals(a.out(), b.out());
    }

    @Test
    void stopStringEndsGenerationBeforeIt() throws IOException {
        Run full = run("generate", "--model", tiny.toString(), "--prompt", PROMPT, "--max-tokens", "12", "--temperature", "0", "--json");
        String text = JSON.readTree(full.out()).get("text").asText();
        String stop = text.substring(6, 10);
        Run r = run("generate", "--model", tiny.toString(), "--prompt", PROMPT, "--max-tokens", "12", "--temperature", "0",
                "--stop", stop, "--json");
        JsonNode o = JSON.readTree(r.out());
        assertEquals(text.substring(0, text.indexOf(stop)), o.get("text").asText());
        assertEquals("stop", o.get("finish_reason").asText());
    }

    @Test
    void scoreJsonMatchesTheReferenceTopTen() throws IOException {
        JsonNode c = expected.get("cases").get(0);
        Run r = run("score", "--model", tiny.toString(), "--prompt", c.get("prompt").asText(), "--top-k", "10", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode o = JSON.readTree(r.out());
        assertEquals(c.get("prompt_ids"), o.get("ids"));
        JsonNode positions = o.get("positions");
        assertEquals(c.get("prompt_ids").size(), positions.size());
        for (int p = 0; p < positions.size(); p++) {
            JsonNode want = c.get("top10_per_position").get(p);
            JsonNode got = positions.get(p).get("top");
            assertEquals(10, got.size());
            for (int j = 0; j < 10; j++) {
                assertEquals(want.get(j).get(1).asDouble(), got.get(j).get(1).asDouble(), 2e-3);
            }
            if (p + 1 < positions.size()) {
                double lp = positions.get(p).get("logprob_next").asDouble();
                assertTrue(lp <= 0 && lp > -50, "logprob " + lp);
            } else {
                assertTrue(positions.get(p).get("logprob_next").isNull());
            }
        }
        Run byIds = run("score", "--model", tiny.toString(), "--ids", "422,3033,356", "--top-k", "3", "--json");
        assertEquals(0, byIds.status(), byIds.err());
        assertEquals(3, JSON.readTree(byIds.out()).get("positions").size());
        // generate takes ids too: the same greedy continuation as the text they encode
        Run gen = run("generate", "--model", tiny.toString(), "--ids", "422,3033,356", "-n", "4", "--temperature", "0", "--json");
        assertEquals(0, gen.status(), gen.err());
        assertEquals("[422,3033,356]", JSON.readTree(gen.out()).get("prompt_ids").toString());
        Run bad = run("generate", "--model", tiny.toString(), "--ids", "1,999999", "-n", "1");
        assertEquals(2, bad.status());
        assertEquals("grok1j: --ids: token id 999999 outside the vocabulary [0, 131072)", bad.err().strip());
    }

    @Test
    void tokenizeMatchesSentencePieceOnTheFixtureFile() throws IOException {
        Path jsonl = shared.resolve("fixtures/tokenizer/grok-1.jsonl");
        Run r = run("tokenize", "--tokenizer", tiny.resolve("tokenizer.model").toString(), "--jsonl", jsonl.toString());
        assertEquals(0, r.status(), r.err());
        List<String> lines = Files.readAllLines(jsonl);
        List<String> got = r.out().lines().toList();
        assertEquals(lines.size(), got.size());
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(JSON.readTree(lines.get(i)).get("ids"), JSON.readTree(got.get(i)), "line " + (i + 1));
        }
        Run one = run("tokenize", "--tokenizer", tiny.resolve("tokenizer.model").toString(), "Hello world");
        assertEquals("[11770,1135]", one.out().strip());
        Run back = run("tokenize", "--tokenizer", tiny.resolve("tokenizer.model").toString(), "--decode", "[11770,1135]");
        assertEquals("\"Hello world\"", back.out().strip());
        Run bad = run("tokenize", "--tokenizer", tiny.resolve("tokenizer.model").toString(), "--decode", "[abc]");
        assertEquals(Main.EXIT_BAD_INPUT, bad.status());
        assertEquals("grok1j: --decode: not a JSON array of token ids (like [1, 2, 3]): [abc]", bad.err().strip());
        Run trailing = run("tokenize", "--tokenizer", tiny.resolve("tokenizer.model").toString(), "--decode", "[11770] x");
        assertEquals("grok1j: --decode: not a JSON array of token ids (like [1, 2, 3]): [11770] x", trailing.err().strip());
        Run word = run("tokenize", "--tokenizer", tiny.resolve("tokenizer.model").toString(), "--decode", "11770,x");
        assertEquals("grok1j: --decode: not a token id: x", word.err().strip());
    }

    @Test
    void inspectListsHyperparametersAndTensors() {
        Run r = run("inspect", "--model", tiny.resolve("ckpt-0").toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("num_hidden_layers          12"), r.out());
        assertTrue(r.out().contains("language_model/in_out_embed/embeddings"), r.out());
        assertTrue(r.out().contains("transformer/decoder_layer_11/moe/linear_1/w"), r.out());
        assertTrue(r.out().contains("tensors (146)"), r.out());
    }

    @Test
    void wrongModelPath() {
        assertBadInput(run("generate", "--model", tmp.resolve("nope").toString(), "--prompt", "x"), "nope");
        assertBadInput(run("generate", "--model", tmp.toString(), "--prompt", "x"), tmp + ": not a model folder: no "
                + "ckpt-0/ with tensorNNNNN_000 files (Grok-1's official checkpoint) and no pytorch_model-*.safetensors "
                + "(Grok-2's release); a GGUF model is given as its .gguf file");
    }

    @Test
    void missingShard() throws IOException {
        Path m = fixtureCopy();
        Files.delete(m.resolve("ckpt-0/tensor00077_000"));
        assertBadInput(run("generate", "--model", m.toString(), "--prompt", "x"), "tensor00077_000");
    }

    @Test
    void truncatedShard() throws IOException {
        Path m = fixtureCopy();
        Path f = m.resolve("ckpt-0/tensor00000_000");
        byte[] bytes = Files.readAllBytes(tiny.resolve("ckpt-0/tensor00000_000"));
        Files.delete(f);
        Files.write(f, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertBadInput(run("generate", "--model", m.toString(), "--prompt", "x"), "tensor00000_000");
    }

    @Test
    void shardNamingAForeignGlobal() throws IOException {
        Path m = fixtureCopy();
        Path f = m.resolve("ckpt-0/tensor00001_000");
        Files.delete(f);
        // PROTO 4, GLOBAL 'os system', SHORT_BINUNICODE 'echo', TUPLE1, REDUCE, STOP
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(new byte[] {(byte) 0x80, 4});
        b.write('c');
        b.writeBytes("os\nsystem\n".getBytes(StandardCharsets.US_ASCII));
        b.write((byte) 0x8c);
        b.write(4);
        b.writeBytes("echo".getBytes(StandardCharsets.US_ASCII));
        b.write((byte) 0x85);
        b.write('R');
        b.write('.');
        Files.write(f, b.toByteArray());
        assertBadInput(run("generate", "--model", m.toString(), "--prompt", "x"), "tensor00001_000", "os");
    }

    @Test
    void shapeThatDoesNotMatchTheConfig() throws IOException {
        Path m = fixtureCopy();
        Path cfg = m.resolve("config.json");
        Files.writeString(cfg, Files.readString(cfg).replace("\"hidden_size\": 32", "\"hidden_size\": 48"));
        assertBadInput(run("generate", "--model", m.toString(), "--prompt", "x"), "tensor00000_000");
    }

    @Test
    void emptyPrompt() {
        assertBadInput(run("generate", "--model", tiny.toString(), "--prompt", ""), "empty");
    }

    @Test
    void promptLongerThanTheContext() throws IOException {
        Path m = fixtureCopy();
        Path cfg = m.resolve("config.json");
        Files.writeString(cfg, Files.readString(cfg).replace("\"max_position_embeddings\": 8192", "\"max_position_embeddings\": 16"));
        Run r = run("generate", "--model", m.toString(), "--prompt", PROMPT, "--max-tokens", "12");
        assertBadInput(r, "11", "12", "16");
        String longPrompt = "word ".repeat(9000);
        assertBadInput(run("generate", "--model", tiny.toString(), "--prompt", longPrompt, "--max-tokens", "1"), "8192");
    }

    @Test
    void badSamplingOptions() {
        assertBadInput(run("generate", "--model", tiny.toString(), "--prompt", "x", "--top-p", "1.5"), "top-p");
        assertBadInput(run("generate", "--model", tiny.toString(), "--prompt", "x", "--temperature", "-1"), "temperature");
        assertBadInput(run("generate", "--model", tiny.toString(), "--prompt", "x", "--max-tokens", "abc"), "max-tokens");
    }

    @Test
    void noCommandIsAUsageError() {
        Run r = run();
        assertEquals(2, r.status());
        assertFalse(r.err().isEmpty());
    }

    @Test
    void configValuesThatMakeNoSenseAreRefusedNamingTheKey() throws IOException {
        String[][] cases = {
                {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": -1", "rms_norm_eps"},
                {"\"rope_theta\": 10000", "\"rope_theta\": 0", "rope_theta"},
                {"\"eos_token_id\": 2", "\"eos_token_id\": 999999", "eos_token_id"},
                {"\"attn_logit_softcapping\": 30.0", "\"attn_logit_softcapping\": -1", "attn_logit_softcapping"},
                {"\"hidden_size\": 32", "\"hidden_size\": null", "hidden_size"},
                {"\"hidden_size\": 32", "\"hidden_size\": \"32\"", "the string"},
                {"\"vocab_size\": 131072", "\"vocab_size\": 1000000000000", "out of range"},
        };
        for (String[] c : cases) {
            Path m = fixtureCopy();
            Path cfg = m.resolve("config.json");
            String text = Files.readString(cfg);
            assertTrue(text.contains(c[0]), c[0]);
            Files.writeString(cfg, text.replace(c[0], c[1]));
            assertBadInput(run("generate", "--model", m.toString(), "--prompt", "x"), "config.json", c[2]);
            deleteTemp();
            makeTemp();
        }
    }

    @Test
    void aFileThatIsNeitherGgufNorACheckpointIsNamed() throws IOException {
        Path f = Files.writeString(tmp.resolve("model.gguf"), "not a model");
        assertBadInput(run("generate", "--model", f.toString(), "--prompt", "x"), f.toString(), "not a GGUF file");
        assertBadInput(run("tokenize", "--tokenizer", tmp.toString(), "x"), tmp.toString(), "directory");
        Path folder = Files.createDirectory(tmp.resolve("grok-1-q8_0.gguf"));
        assertBadInput(run("generate", "--model", folder.toString(), "--prompt", "x"), folder.toString(), "is a directory, expected a .gguf file");
    }

    @Test
    void unknownCommandListsTheCommands() {
        Run r = run("frobnicate");
        assertEquals(2, r.status());
        assertTrue(r.errLine().contains("unknown command 'frobnicate'") && r.errLine().contains("generate"), r.err());
    }
}
