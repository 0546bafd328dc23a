package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code generate}, {@code score} and {@code inspect} on the Grok-2 release-layout fixture (grok-2 spec §8). */
class Grok2CliTest {
    static final Path TINY = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize()
            .resolve("fixtures/grok-2-tiny");

    @Test
    void scoreByIdsMatchesTheReferenceTopTen() throws IOException {
        JsonNode expected = CliTest.JSON.readTree(TINY.resolve("expected.json").toFile());
        JsonNode c = expected.get("cases").get(1);
        StringBuilder ids = new StringBuilder();
        c.get("prompt_ids").forEach(i -> ids.append(ids.isEmpty() ? "" : ",").append(i.asInt()));
        CliTest.Run r = CliTest.run("score", "--model", TINY.toString(), "--ids", ids.toString(), "--top-k", "10", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode positions = CliTest.JSON.readTree(r.out()).get("positions");
        assertEquals(c.get("prompt_ids").size(), positions.size());
        for (int p = 0; p < positions.size(); p++) {
            JsonNode want = c.get("top10_per_position").get(p);
            JsonNode got = positions.get(p).get("top");
            for (int j = 0; j < 10; j++) {
                assertEquals(want.get(j).get(0).asInt(), got.get(j).get(0).asInt(), "position " + p + " rank " + j);
                assertEquals(want.get(j).get(1).asDouble(), got.get(j).get(1).asDouble(), 2e-3);
            }
        }
    }

    @Test
    void generateGreedyWithTheTiktokenTokenizer() throws IOException {
        String golden = "Human: What is your name?<|separator|>\n\nAssistant:";
        CliTest.Run tok = CliTest.run("tokenize", "--tokenizer", TINY.resolve("tokenizer.tok.json").toString(), golden);
        CliTest.Run r = CliTest.run("generate", "--model", TINY.toString(), "--prompt", golden, "--max-tokens", "12",
                "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode o = CliTest.JSON.readTree(r.out());
        assertEquals(CliTest.JSON.readTree(tok.out()), o.get("prompt_ids"));
        assertEquals(12, o.get("ids").size());
        assertEquals("length", o.get("finish_reason").asText());
        CliTest.Run again = CliTest.run("generate", "--model", TINY.toString(), "--prompt", golden, "--max-tokens", "12",
                "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(r.out(), again.out());
        StringBuilder ids = new StringBuilder();
        o.get("prompt_ids").forEach(i -> ids.append(ids.isEmpty() ? "" : ",").append(i.asInt()));
        CliTest.Run byIds = CliTest.run("generate", "--model", TINY.toString(), "--ids", ids.toString(), "--max-tokens",
                "12", "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(r.out(), byIds.out());
    }

    @Test
    void generateByIdsGivesTheReferenceGreedyTokens() throws IOException {
        JsonNode c = CliTest.JSON.readTree(TINY.resolve("expected.json").toFile()).get("cases").get(0);
        StringBuilder ids = new StringBuilder();
        c.get("prompt_ids").forEach(i -> ids.append(ids.isEmpty() ? "" : ",").append(i.asInt()));
        CliTest.Run r = CliTest.run("generate", "--model", TINY.toString(), "--ids", ids.toString(), "--max-tokens",
                "12", "--temperature", "0", "--json");
        assertEquals(0, r.status(), r.err());
        StringBuilder want = new StringBuilder("[");
        c.get("greedy").forEach(g -> want.append(want.length() == 1 ? "" : ",").append(g.get("token").asInt()));
        assertEquals(want.append("]").toString(), CliTest.JSON.readTree(r.out()).get("ids").toString());
    }

    @Test
    void inspectShowsTheGrok2Switches() {
        CliTest.Run r = CliTest.run("inspect", "--model", TINY.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("architecture               grok-2: erf GELU"), r.out());
        assertTrue(r.out().contains("final logit soft-cap       50.0"), r.out());
        assertTrue(r.out().contains("output projection          untied (lm_head)"), r.out());
        assertTrue(r.out().contains("(applied as float32 16.0)"), r.out());
        assertTrue(r.out().contains("tensors (411)"), r.out());
        assertTrue(r.out().contains("model.layers.1.block_sparse_moe.experts.7.w2.weight"), r.out());
    }
}
