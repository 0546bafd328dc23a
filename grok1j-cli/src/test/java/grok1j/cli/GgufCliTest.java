package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUF through the command line, as a new user would: convert the tiny fixture to F32 and Q8_0, inspect the files,
 * generate from them, tokenize with their embedded vocabulary; damaged files give one line naming the file and
 * exit status 2.
 */
class GgufCliTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PROMPT = "The answer to life the universe and everything is of course";

    @TempDir
    static Path dir;
    static Path tiny;
    static Path f32;
    static Path q8;

    @BeforeAll
    static void convert() {
        Path shared = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize();
        tiny = shared.resolve("fixtures/grok-1-tiny");
        f32 = dir.resolve("tiny-f32.gguf");
        q8 = dir.resolve("tiny-q8_0.gguf");
        for (Path out : List.of(f32, q8)) {
            String type = out == f32 ? "f32" : "q8_0";
            CliTest.Run r = CliTest.run("convert", "--type", type, tiny.toString(), out.toString());
            assertEquals(0, r.status(), r.err());
            assertTrue(r.err().contains("wrote " + out), r.err());
            assertTrue(r.err().contains("convert " + type) && r.err().contains("MiB"), "progress bar: " + r.err());
        }
    }

    /** The type column of {@code inspect}'s line for tensor {@code name}. */
    static String typeOf(String inspect, String name) {
        Matcher m = Pattern.compile("(?m)^  " + Pattern.quote(name) + "\\s+\\[[^]]*]\\s+(\\S+)").matcher(inspect);
        assertTrue(m.find(), name + " not listed:\n" + inspect);
        return m.group(1);
    }

    @Test
    void inspectShowsMetadataAndTensorTypesWithTheF16Fallbacks() {
        CliTest.Run r = CliTest.run("inspect", "--model", q8.toString());
        assertEquals(0, r.status(), r.err());
        String out = r.out();
        for (String line : new String[] {"format: GGUF v3", "general.architecture: grok", "grok.block_count: 12",
                "grok.embedding_length: 32", "grok.expert_feed_forward_length: 88", "grok.attention.head_count_kv: 2",
                "grok.attention.layer_norm_rms_epsilon: 1.0E-5", "grok.attn_logit_softcapping: 30.0",
                "tokenizer.ggml.bos_token_id: 1", "tokenizer.ggml.unknown_token_id: 3", "tokenizer.ggml.add_bos_token: false",
                "tokenizer: embedded vocabulary of 131072 pieces", "num_hidden_layers          12", "tensors (146):"}) {
            assertTrue(out.contains(line), "inspect should show '" + line + "':\n" + out);
        }
        // the vocabulary's newline pieces are escaped: every metadata key stays on one line
        assertTrue(out.contains("tokenizer.ggml.tokens: [STRING x 131072: \"[PAD]\", \"[BOS]\", \"[EOS]\", \"[UNK]\", \"\\n\""), out);
        assertEquals("Q8_0", typeOf(out, "blk.0.attn_q.weight"));
        assertEquals("Q8_0", typeOf(out, "blk.11.ffn_gate_exps.weight"));
        assertEquals("F16", typeOf(out, "blk.0.attn_output.weight"));   // 8 scale groups of 4 rows: narrower than a block
        assertEquals("F16", typeOf(out, "blk.11.ffn_down_exps.weight")); // input 88 is not a multiple of 32
        assertEquals("F16", typeOf(out, "token_embd.weight"));           // the tied output of a q8_0 file
        assertEquals("F32", typeOf(out, "blk.3.ffn_gate_inp.weight"));
        assertEquals("F32", typeOf(out, "output_norm.weight"));

        CliTest.Run f = CliTest.run("inspect", "--model", f32.toString());
        assertEquals(0, f.status(), f.err());
        assertEquals("F32", typeOf(f.out(), "blk.0.attn_q.weight"));
        assertTrue(f.out().contains("general.file_type: 0"), f.out());
    }

    /** F32 computes the checkpoint's function; Q8_0 (int8 blocks exact, F16 elsewhere) gives the same tokens here too. */
    @Test
    void generateFromTheGgufFilesEqualsTheCheckpoint() throws IOException {
        String[] args = {"--prompt", PROMPT, "--max-tokens", "12", "--temperature", "0", "--ignore-eos", "--json"};
        CliTest.Run want = CliTest.run(concat(new String[] {"generate", "--model", tiny.toString()}, args));
        assertEquals(0, want.status(), want.err());
        JsonNode w = JSON.readTree(want.out());
        assertEquals(12, w.get("ids").size());
        for (Path gguf : List.of(f32, q8)) {
            CliTest.Run got = CliTest.run(concat(new String[] {"generate", "--model", gguf.toString()}, args));
            assertEquals(0, got.status(), got.err());
            JsonNode g = JSON.readTree(got.out());
            for (String field : new String[] {"prompt_ids", "ids", "text", "finish_reason"}) {
                assertEquals(w.get(field), g.get(field), gguf.getFileName() + " " + field);
            }
        }
    }

    @Test
    void tokenizeWithTheEmbeddedVocabularyEqualsTokenizerModel() throws IOException {
        String[] texts = {"Hello world", PROMPT, "  leading spaces and\ttabs\nnew lines", "x=1<<3  and 12345 😀",
                "千呼万唤始出来。为了兑现牛逼", "[BOS] is not special in text", ""};
        StringBuilder lines = new StringBuilder();
        for (String t : texts) {
            lines.append(JSON.writeValueAsString(java.util.Map.of("text", t))).append('\n');
        }
        Path in = Files.writeString(dir.resolve("texts.jsonl"), lines);
        String model = tiny.resolve("tokenizer.model").toString();
        CliTest.Run want = CliTest.run("tokenize", "--tokenizer", model, "--jsonl", in.toString());
        CliTest.Run got = CliTest.run("tokenize", "--tokenizer", q8.toString(), "--jsonl", in.toString());
        assertEquals(0, got.status(), got.err());
        assertEquals(texts.length, got.out().lines().count());
        assertEquals(want.out(), got.out());
        Path ids = Files.writeString(dir.resolve("ids.jsonl"), got.out());
        CliTest.Run back = CliTest.run("tokenize", "--tokenizer", q8.toString(), "--jsonl", ids.toString(), "--decode");
        assertEquals(0, back.status(), back.err());
        assertEquals(CliTest.run("tokenize", "--tokenizer", model, "--jsonl", ids.toString(), "--decode").out(), back.out());
    }

    static String[] concat(String[] a, String[] b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void truncatedFilesGiveOneLineNamingTheFile() throws IOException {
        byte[] bytes = Files.readAllBytes(q8);
        // cut in the tensor data, in the vocabulary array, and in the fixed header
        for (int length : new int[] {bytes.length / 2, 400_000, 20}) {
            Path bad = dir.resolve("cut-" + length + ".gguf");
            Files.write(bad, Arrays.copyOf(bytes, length));
            CliTest.assertBadInput(CliTest.run("generate", "--model", bad.toString(), "--prompt", "x"), bad.toString());
            CliTest.assertBadInput(CliTest.run("inspect", "--model", bad.toString()), bad.toString());
            CliTest.assertBadInput(CliTest.run("score", "--model", bad.toString(), "--prompt", "x"), bad.toString());
            CliTest.assertBadInput(CliTest.run("tokenize", "--tokenizer", bad.toString(), "x"), bad.toString());
            CliTest.assertBadInput(CliTest.run("convert", "--type", "f16", bad.toString(), dir.resolve("o.gguf").toString()), bad.toString());
        }
        CliTest.Run r = CliTest.run("inspect", "--model", dir.resolve("cut-" + bytes.length / 2 + ".gguf").toString());
        assertTrue(r.errLine().contains("truncated"), r.errLine());
    }

    @Test
    void convertErrors() {
        CliTest.assertBadInput(CliTest.run("convert", "--type", "q4_0", tiny.toString(), dir.resolve("o.gguf").toString()), "q4_0");
        CliTest.assertBadInput(CliTest.run("convert", "--type", "f16", tiny.toString(), dir.resolve("no/such/o.gguf").toString()),
                dir.resolve("no/such").toString());
        CliTest.assertBadInput(CliTest.run("convert", "--type", "f16", "--split-max-size", "5X", tiny.toString(),
                dir.resolve("o.gguf").toString()), "5X");
    }

    /** Rewriting a Q8_0 GGUF as Q8_0, or as Q6_K that every matrix falls back from (F16), requantizes nothing. */
    @Test
    void convertingAGgufWithoutRequantizingNeedsNoFlag() {
        assertEquals(0, CliTest.run("convert", "--type", "q8_0", q8.toString(), dir.resolve("again.gguf").toString()).status());
        assertEquals(0, CliTest.run("convert", "--type", "q6_k", q8.toString(), dir.resolve("f16s.gguf").toString()).status());
    }
}
