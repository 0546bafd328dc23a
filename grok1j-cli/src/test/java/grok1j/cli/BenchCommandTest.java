package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code grok1j bench --model} on the tiny fixture: a quick smoke run that reports every documented key. */
class BenchCommandTest {

    static Path tiny() {
        return Path.of(System.getProperty("grok1j.shared", "../../shared")).resolve("fixtures/grok-1-tiny").toAbsolutePath();
    }

    @Test
    void jsonHasTheDocumentedKeys() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(new String[] {"bench", "--model", tiny().toString(), "--threads", "2", "--prefill", "5,9",
                "--decode-tokens", "2", "--bandwidth-mib", "64", "--passes", "3", "--warmup", "0", "--json"},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        JsonNode r = new ObjectMapper().readTree(out.toString(StandardCharsets.UTF_8));
        for (String key : new String[] {"bandwidth_gbs", "decode_ms_per_token", "decode_ms_per_layer", "weight_bytes_per_layer",
                "decode_bandwidth_fraction", "prefill9_tokens_per_s", "prefill9_ms_per_token_per_layer", "ttft_ms",
                "projected_64_layer_decode_tokens_per_s", "fma_peak_gflops", "prefill9_gflops", "prefill9_fma_fraction"}) {
            assertTrue(r.has(key), "missing " + key + " in " + r);
            assertTrue(r.get(key).asDouble() > 0, key + " = " + r.get(key));
        }
        assertTrue(r.get("loadavg").asText().matches("[0-9.]+ [0-9.]+ [0-9.]+.*"), r.get("loadavg").asText());
        assertEquals(12, r.get("layers").asInt());
    }

    @Test
    void badThreadCountIsBadInput() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(new String[] {"bench", "--threads", "0"}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(Main.EXIT_BAD_INPUT, status);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--threads"), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void eachBadSizeIsNamed() {
        String[][] cases = {{"--passes", "0", "--passes must be positive, got 0"},
            {"--bandwidth-mib", "-1", "--bandwidth-mib must be positive, got -1"},
            {"--decode-tokens", "0", "--decode-tokens must be positive, got 0"},
            {"--warmup", "-3", "--warmup must be >= 0, got -3"},
            {"--bandwidth-mib", "999999999", "is more than this machine's memory"}};
        for (String[] c : cases) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int status = Main.run(new String[] {"bench", c[0], c[1]}, new PrintStream(new ByteArrayOutputStream()),
                    new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(Main.EXIT_BAD_INPUT, status, String.join(" ", c));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains(c[2]), err.toString(StandardCharsets.UTF_8));
        }
    }
}
