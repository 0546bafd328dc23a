package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code generate --json-schema}, the penalties and {@code --logit-bias} on {@code fixtures/grok-1-tiny}. */
class GenerateJsonSchemaTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TINY = Path.of("../../shared/fixtures/grok-1-tiny").toAbsolutePath().normalize().toString();

    @TempDir
    Path tmp;

    @Test
    void outputIsADocumentOfTheSchema() throws IOException {
        Path schema = tmp.resolve("s.json");
        Files.writeString(schema, """
                {"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer"}},"required":["ok","n"],
                 "additionalProperties":false}""");
        CliTest.Run r = CliTest.run("generate", "--model", TINY, "--prompt", "Answer in JSON:", "--max-tokens", "24",
                "--seed", "7", "--json-schema", schema.toString(), "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode o = JSON.readTree(r.out());
        JsonNode doc = JSON.readTree(o.get("text").asText());
        assertTrue(doc.get("ok").isBoolean() && doc.get("n").isIntegralNumber() && doc.size() == 2, doc.toString());
        assertEquals("stop", o.get("finish_reason").asText());
        assertTrue(r.err().contains("logit processing: "), r.err());
    }

    @Test
    void unsupportedKeywordIsOneLineAndExit2() throws IOException {
        Path schema = tmp.resolve("s.json");
        Files.writeString(schema, "{\"type\":\"string\",\"pattern\":\"^a+$\"}");
        CliTest.Run r = CliTest.run("generate", "--model", TINY, "--prompt", "x", "--json-schema", schema.toString());
        CliTest.assertBadInput(r, "\"pattern\"", "s.json");
        CliTest.assertBadInput(CliTest.run("generate", "--model", TINY, "--prompt", "x", "--json-schema",
                tmp.resolve("missing.json").toString()), "missing.json");
    }

    @Test
    void logitBiasOfMinus100ChangesTheGreedyToken() throws IOException {
        CliTest.Run plain = CliTest.run("generate", "--model", TINY, "--prompt", CliTest.PROMPT, "--max-tokens", "1",
                "--temperature", "0", "--json");
        int greedy = JSON.readTree(plain.out()).get("ids").get(0).asInt();
        CliTest.Run biased = CliTest.run("generate", "--model", TINY, "--prompt", CliTest.PROMPT, "--max-tokens", "1",
                "--temperature", "0", "--logit-bias", greedy + "=-100", "--json");
        assertEquals(0, biased.status(), biased.err());
        assertNotEquals(greedy, JSON.readTree(biased.out()).get("ids").get(0).asInt());
        CliTest.assertBadInput(CliTest.run("generate", "--model", TINY, "--prompt", "x", "--presence-penalty", "3"), "presence penalty");
        CliTest.assertBadInput(CliTest.run("generate", "--model", TINY, "--prompt", "x", "--logit-bias", "999999=1"), "999999");
    }
}
