package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
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
                "projected_64_layer_decode_tokens_per_s", "fma_peak_gflops", "prefill9_gflops", "prefill9_fma_fraction",
                "decode_allocated_bytes_per_step", "prefill9_allocated_bytes"}) {
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

    /** A bad {@code -Dgrok1j.gguf.interleave} is refused before the probes run (it used to be after them). */
    @Test
    void badInterleaveSettingIsRefusedBeforeTheProbes() {
        System.setProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY, "1");
        try {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int status = Main.run(new String[] {"bench", "--bandwidth-mib", "64"}, new PrintStream(new ByteArrayOutputStream()),
                    new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(Main.EXIT_BAD_INPUT, status);
            assertEquals("grok1j: -Dgrok1j.gguf.interleave must be true or false, got \"1\"",
                    err.toString(StandardCharsets.UTF_8).strip());
        } finally {
            System.clearProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY);
        }
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

    /**
     * The Grok-2 fixture: the weight bytes per decode layer count the dense MLP, the unembedding is the untied lm_head,
     * and the warm-up (one round) runs a small synthetic bf16 Grok-2.
     */
    @Test
    void grok2ModelCountsTheDenseMlpAndTheUntiedOutput() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Path grok2 = tiny().resolveSibling("grok-2-tiny");
        int status = Main.run(new String[] {"bench", "--model", grok2.toString(), "--threads", "2", "--prefill", "9",
                "--decode-tokens", "2", "--bandwidth-mib", "64", "--passes", "3", "--warmup", "1", "--json"},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        JsonNode r = new ObjectMapper().readTree(out.toString(StandardCharsets.UTF_8));
        // d 256, 4 q / 2 kv heads of 64, expert FFN 256 (top 2), dense FFN 512, 8 experts, vocab 512; all bf16
        long attention = 2L * (256 * 256 + 2 * 256 * 128 + 256 * 256), router = 2L * 256 * 8;
        long experts = 2 * 3 * 2L * 256 * 256, dense = 3 * 2L * 256 * 512;
        assertEquals(attention + router + experts + dense, r.get("weight_bytes_per_layer").asLong());
        assertEquals(2L * 512 * 256, r.get("unembedding_bytes").asLong());
        assertTrue(r.get("prefill9_fma_fraction").asDouble() > 0, r.toString());
    }

    @Test
    void grok2SyntheticModelHasTheReleasedDimensions() {
        var c = BenchCommand.syntheticConfig("grok-2", 64);
        assertEquals(List.of(8192, 64, 8, 128, 16384, 32768, 8, 2, 131072),
                List.of(c.dModel(), c.queryHeads(), c.kvHeads(), c.headDim(), c.expertFfn(), c.architecture().denseFfn(),
                        c.experts(), c.expertsPerToken(), c.vocabSize()));
        // grok-2 spec §1: 269,515,497,472 parameters = 539.0 GB of bf16, the per-layer norms (float32 here) aside
        long norms = 64L * 4 * 8192 + 8192;
        assertEquals(2 * (269_515_497_472L - norms), SyntheticModel.bytesOf(c), 2e6);
        // so it is refused, in one line, on a machine with less memory than that
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(new String[] {"bench", "--arch", "grok-2", "--layers", "64"},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(Main.EXIT_BAD_INPUT, status);
        assertTrue(err.toString(StandardCharsets.UTF_8).matches("grok1j: the synthetic grok-2 model with 64 layer\\(s\\) "
                + "needs 539\\.0 GB of memory and [0-9.]+ GB are available; use fewer --layers\\R"), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void archIsChecked() {
        String[][] cases = {{"--arch", "grok-3", "--arch must be grok-1 or grok-2, got grok-3"},
            {"--arch", "grok-2", "--model", tiny().toString(), "--arch shapes the synthetic model; a --model brings its own architecture"}};
        assertRefused(cases);
    }

    /** Each case: {@code bench} with the options before its last element is refused with that element as its one line. */
    private static void assertRefused(String[][] cases) {
        for (String[] c : cases) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            String[] args = new String[c.length];
            args[0] = "bench";
            System.arraycopy(c, 0, args, 1, c.length - 1);
            int status = Main.run(args, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(Main.EXIT_BAD_INPUT, status);
            assertEquals("grok1j: " + c[c.length - 1], err.toString(StandardCharsets.UTF_8).strip());
        }
    }

    /** Prompt lengths are checked before the probes and the model's build, with the value in the message. */
    @Test
    void prefillLengthsAreCheckedFirst() {
        String[][] cases = {{"--prefill", "0", "--prefill must be positive, got 0"},
            {"--prefill", "128,-5", "--prefill must be positive, got -5"},
            {"--prefill", "9000", "--prefill lengths must be at most the model's context of 8192 tokens, got 9000"},
            {"--model", tiny().toString(), "--prefill", "5,100000",
                "--prefill lengths must be at most the model's context of 8192 tokens, got 100000"}};
        assertRefused(cases);
    }

    /** A small Grok-2-shaped synthetic model (bf16, dense MLP, untied output), whole and as 2 rank slices, runs finite. */
    @Test
    void smallSyntheticGrok2Runs() {
        var g = grok1j.model.GrokConfig.grok2();
        var c = new grok1j.model.GrokConfig(1000, 128, 2, 4, 2, 32, 64, 8, 2, 64, g.ropeTheta(), g.rmsEps(),
                Math.sqrt(128), 0.5, 1 / Math.sqrt(32), 30, -1, -1, 2, grok1j.model.Architecture.grok2(4, 50, 96));
        try (var pool = new grok1j.tensor.ThreadPool(1)) {
            for (int ranks : new int[] {1, 2}) {
                try (SyntheticModel m = new SyntheticModel(c, pool, grok1j.model.Partition.of(c, ranks - 1, ranks))) {
                    var w = m.weights();
                    assertTrue(w.layers().getFirst().hasDenseMlp());
                    assertEquals(1000, w.output().outputDim()); // whole-shaped: the Transformer takes its rank slice
                    if (ranks == 1) {
                        var net = new grok1j.model.Transformer(w, pool);
                        float[] logits = net.forward(new int[] {5, 6, 7, 8, 9, 10}, 0, 6, net.newCache(),
                                grok1j.model.Transformer.Logits.ALL);
                        for (float v : logits) {
                            assertTrue(Float.isFinite(v) && Math.abs(v) < 50);
                        }
                    }
                }
            }
        }
    }
}
