package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code grok1j bench --compare-llama}: runs the given llama-bench on the same GGUF file with the same threads and
 * reports the ratios. A stand-in script plays llama-bench (it records its arguments and prints llama-bench's JSON).
 */
class CompareLlamaTest {
    @TempDir
    static Path dir;
    static Path gguf;

    @BeforeAll
    static void convert() {
        gguf = dir.resolve("tiny-q8_0.gguf");
        CliTest.Run r = CliTest.run("convert", "--type", "q8_0", BenchCommandTest.tiny().toString(), gguf.toString());
        assertEquals(0, r.status(), r.err());
    }

    static Path script(String name, String body) throws Exception {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return p;
    }

    static String[] bench(Path llama) {
        return new String[] {"bench", "--model", gguf.toString(), "--threads", "2", "--prefill", "5,9", "--decode-tokens", "2",
            "--bandwidth-mib", "64", "--passes", "3", "--warmup", "0", "--json", "--compare-llama", llama.toString()};
    }

    @Test
    void runsLlamaBenchOnTheSameFileAndReportsTheRatios() throws Exception {
        Path args = dir.resolve("args.txt");
        Path llama = script("llama-bench", "echo \"$@\" > " + args + "\n"
                + "echo '[{\"build_commit\":\"abc123\",\"cpu_info\":\"Test CPU\",\"n_prompt\":9,\"n_gen\":0,\"avg_ts\":50.0,\"stddev_ts\":1.5},"
                + "{\"build_commit\":\"abc123\",\"cpu_info\":\"Test CPU\",\"n_prompt\":0,\"n_gen\":32,\"avg_ts\":4.0,\"stddev_ts\":0.25}]'\n");
        CliTest.Run r = CliTest.run(bench(llama));
        assertEquals(0, r.status(), r.err());
        assertEquals("-m " + gguf + " -t 2 -p 9 -n 32 -o json", Files.readString(args).strip());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(4.0, j.get("llama_decode_tokens_per_s").asDouble());
        assertEquals(50.0, j.get("llama_prefill_tokens_per_s").asDouble());
        assertEquals("abc123", j.get("llama_build").asText());
        assertEquals(j.get("decode_tokens_per_s").asDouble() / 4.0, j.get("decode_vs_llama").asDouble(),
                0.01 * j.get("decode_vs_llama").asDouble() + 0.01);
        assertEquals(j.get("prefill9_tokens_per_s").asDouble() / 50.0, j.get("prefill_vs_llama").asDouble(),
                0.01 * j.get("prefill_vs_llama").asDouble() + 0.001);
    }

    @Test
    void badUsesAreOneLineErrors() throws Exception {
        Path llama = script("ok-bench", "echo '[]'\n");
        CliTest.assertBadInput(CliTest.run("bench", "--compare-llama", llama.toString()), "--compare-llama needs --model");
        CliTest.assertBadInput(CliTest.run("bench", "--model", BenchCommandTest.tiny().toString(), "--compare-llama",
                llama.toString()), "GGUF");
        CliTest.assertBadInput(CliTest.run(bench(dir.resolve("no-such-bench"))), "no-such-bench: no such file");
        Path failing = script("failing-bench", "echo 'error: unknown model architecture' >&2\nexit 1\n");
        failsMidRun(CliTest.run(bench(failing)), "llama-bench exited with status 1: error: unknown model architecture");
        failsMidRun(CliTest.run(bench(llama)), "llama-bench reported no pp9 or tg32 result");
    }

    /** A failure after the bench started: its progress lines, then one error line, exit 2. */
    static void failsMidRun(CliTest.Run r, String message) {
        assertEquals(2, r.status(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.startsWith("WARNING") && !l.startsWith("bench: ")).toList();
        assertEquals(List.of("grok1j: " + message), lines, r.err());
    }

    @Test
    void parsesLlamaBenchJson() throws Exception {
        LlamaBench.Result r = LlamaBench.parse("""
                [{"n_prompt": 512, "n_gen": 0, "avg_ts": 37.4, "stddev_ts": 0.5, "build_commit": "x", "cpu_info": "c"},
                 {"n_prompt": 0, "n_gen": 32, "avg_ts": 8.27, "stddev_ts": 0.1, "build_commit": "x", "cpu_info": "c"}]
                """, 512, 32);
        assertEquals(37.4, r.prefillTokensPerS());
        assertEquals(8.27, r.decodeTokensPerS());
        assertTrue(List.of("x").contains(r.build()));
    }

    @Test
    void writeGgufNeedsTheTokenizer() {
        CliTest.assertBadInput(CliTest.run("bench", "--write-gguf", dir.resolve("out").toString(), "--layers", "1"),
                "--write-gguf needs --tokenizer");
        CliTest.assertBadInput(CliTest.run("bench", "--write-gguf", dir.resolve("out").toString(), "--type", "q4_0",
                "--tokenizer", "x"), "q4_0");
    }
}
