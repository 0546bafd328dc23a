package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code convert} from the Grok-2 release-layout fixture to GGUF, then {@code inspect}, {@code tokenize},
 * {@code score} and {@code generate} on the converted file, as a new user would (grok-2 spec §6).
 */
class Grok2ConvertCliTest {
    static final Path TINY = Grok2CliTest.TINY;
    static final String GOLDEN = "Human: What is your name?<|separator|>\n\nAssistant:";
    static Path dir;
    static Path bf16;

    @BeforeAll
    static void convert() throws IOException {
        dir = Files.createTempDirectory("grok2-convert");
        bf16 = dir.resolve("grok-2-tiny-bf16.gguf");
        CliTest.Run r = CliTest.run("convert", "--type", "bf16", TINY.toString(), bf16.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("convert bf16") && r.err().contains("MiB"), "progress bar: " + r.err());
        assertTrue(r.err().contains("wrote " + bf16), r.err());
    }

    @AfterAll
    static void clean() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Test
    void inspectShowsLlamaCppNamesAndTheSpecSemantics() {
        CliTest.Run r = CliTest.run("inspect", "--model", bf16.toString());
        assertEquals(0, r.status(), r.err());
        for (String s : new String[] {"general.name: grok-2", "grok.final_logit_softcapping: 50.0",
                "grok.attention.temperature_length: 2", "tokenizer.ggml.model: gpt2", "tokenizer.ggml.pre: grok-2",
                "semantics: Grok-2 as SGLang computes it", "architecture               grok-2: erf GELU",
                "blk.1.ffn_gate.weight", "blk.1.post_ffw_norm.weight", "output.weight", "tensors (33)"}) {
            assertTrue(r.out().contains(s), s + " in\n" + r.out());
        }
    }

    @Test
    void tokenizeWithTheEmbeddedVocabularyGivesTheTokJsonIds() {
        CliTest.Run want = CliTest.run("tokenize", "--tokenizer", TINY.resolve("tokenizer.tok.json").toString(), GOLDEN);
        CliTest.Run got = CliTest.run("tokenize", "--model", bf16.toString(), GOLDEN);
        assertEquals(0, got.status(), got.err());
        assertEquals(want.out(), got.out());
    }

    @Test
    void scoreMatchesTheReferenceTopTen() throws IOException {
        JsonNode c = CliTest.JSON.readTree(TINY.resolve("expected.json").toFile()).get("cases").get(2);
        StringBuilder ids = new StringBuilder();
        c.get("prompt_ids").forEach(i -> ids.append(ids.isEmpty() ? "" : ",").append(i.asInt()));
        CliTest.Run r = CliTest.run("score", "--model", bf16.toString(), "--ids", ids.toString(), "--top-k", "10", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode positions = CliTest.JSON.readTree(r.out()).get("positions");
        for (int p = 0; p < positions.size(); p++) {
            for (int j = 0; j < 10; j++) {
                JsonNode want = c.get("top10_per_position").get(p).get(j);
                JsonNode got = positions.get(p).get("top").get(j);
                assertEquals(want.get(0).asInt(), got.get(0).asInt(), "position " + p + " rank " + j);
                assertEquals(want.get(1).asDouble(), got.get(1).asDouble(), 2e-3);
            }
        }
    }

    @Test
    void generateFromTheGgufEqualsGenerateFromTheFolder() throws IOException {
        String[] args = {"--prompt", GOLDEN, "--max-tokens", "12", "--temperature", "0", "--ignore-eos", "--json"};
        CliTest.Run folder = CliTest.run(concat(new String[] {"generate", "--model", TINY.toString()}, args));
        CliTest.Run gguf = CliTest.run(concat(new String[] {"generate", "--model", bf16.toString()}, args));
        assertEquals(0, gguf.status(), gguf.err());
        assertEquals(CliTest.JSON.readTree(folder.out()), CliTest.JSON.readTree(gguf.out()));
    }

    @Test
    void q4KConvertsAndRuns() throws IOException {
        Path q4 = dir.resolve("grok-2-tiny-q4_k.gguf");
        CliTest.Run r = CliTest.run("convert", "--type", "q4_k", "--name", "tiny", TINY.toString(), q4.toString());
        assertEquals(0, r.status(), r.err());
        CliTest.Run inspect = CliTest.run("inspect", "--model", q4.toString());
        assertTrue(inspect.out().contains("general.name: tiny"), inspect.out());
        assertTrue(inspect.out().matches("(?s).*blk\\.0\\.ffn_down_exps\\.weight +\\[8, 256, 256] +Q4_K.*"), inspect.out());
        CliTest.Run g = CliTest.run("generate", "--model", q4.toString(), "--prompt", GOLDEN, "--max-tokens", "4",
                "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(0, g.status(), g.err());
        assertEquals(4, CliTest.JSON.readTree(g.out()).get("ids").size());
    }

    /** Quantized matrices are not quantized again to another type without --allow-requantize (llama-quantize's rule). */
    @Test
    void requantizingAGgufIsRefusedUnlessAllowed() {
        Path q8 = dir.resolve("grok-2-tiny-q8_0.gguf");
        assertEquals(0, CliTest.run("convert", "--type", "q8_0", TINY.toString(), q8.toString()).status());
        Path out = dir.resolve("requantized.gguf");
        CliTest.assertBadInput(CliTest.run("convert", "--type", "q4_k", q8.toString(), out.toString()), q8 + " holds Q8_0 "
                + "matrices; converting them to q4_k quantizes weights already quantized (the roundings compound): "
                + "convert the original checkpoint, or add --allow-requantize");
        assertTrue(!Files.exists(out), "nothing written");
        CliTest.Run allowed = CliTest.run("convert", "--type", "q4_k", "--allow-requantize", q8.toString(), out.toString());
        assertEquals(0, allowed.status(), allowed.err());
        CliTest.Run inspect = CliTest.run("inspect", "--model", out.toString());
        assertTrue(inspect.out().matches("(?s).*blk\\.0\\.ffn_down_exps\\.weight +\\[8, 256, 256] +Q4_K.*"), inspect.out());
        // bf16 matrices are not quantized ones: quantizing them needs no flag
        assertEquals(0, CliTest.run("convert", "--type", "q4_k", bf16.toString(), dir.resolve("from-bf16.gguf").toString()).status());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
