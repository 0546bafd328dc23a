package grok1j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs llama.cpp's {@code llama-bench} on a GGUF file for {@code grok1j bench --compare-llama}: the same file, the same
 * thread count, {@code -p PROMPT -n GEN -o json}, and reads back its prefill and decode tokens/s (the {@code avg_ts}
 * of the {@code pp} and {@code tg} tests). llama.cpp is only a yardstick: nothing of it is linked or shipped.
 */
final class LlamaBench {
    /** Tokens per second of llama.cpp's prompt processing and text generation, and how it described itself. */
    record Result(double prefillTokensPerS, double decodeTokensPerS, double prefillStddev, double decodeStddev,
                  String build, String cpu) {}

    private LlamaBench() {}

    /** Checks that {@code exe} can be run, before anything is measured (a typo should not cost a whole bench). */
    static void check(Path exe) {
        if (!Files.isRegularFile(exe)) {
            throw new IllegalArgumentException("--compare-llama " + exe + ": no such file (give the path of llama.cpp's llama-bench)");
        }
        if (!Files.isExecutable(exe)) {
            throw new IllegalArgumentException("--compare-llama " + exe + ": not executable");
        }
    }

    /**
     * Runs {@code exe -m model -t threads -p prompt -n gen -o json} and parses its output.
     *
     * @throws IllegalStateException if it fails or prints no pp/tg results (with the last line it printed on stderr)
     */
    static Result run(Path exe, Path model, int threads, int prompt, int gen) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "-m", model.toString(), "-t", Integer.toString(threads),
                "-p", Integer.toString(prompt), "-n", Integer.toString(gen), "-o", "json"));
        Path err = Files.createTempFile("llama-bench", ".log");
        try {
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            int code = p.waitFor();
            if (code != 0) {
                throw new IllegalStateException("llama-bench exited with status " + code + ": " + lastLine(err));
            }
            return parse(new String(out, StandardCharsets.UTF_8), prompt, gen);
        } finally {
            Files.deleteIfExists(err);
        }
    }

    /** The {@code pp<prompt>} and {@code tg<gen>} entries of llama-bench's JSON array (0 where a test was not run). */
    static Result parse(String json, int prompt, int gen) throws IOException {
        JsonNode root = new ObjectMapper().readTree(json);
        if (root == null || !root.isArray()) {
            throw new IllegalStateException("llama-bench printed no JSON array of results");
        }
        double pp = 0, tg = 0, ppSd = 0, tgSd = 0;
        String build = "", cpu = "";
        boolean found = false;
        for (JsonNode t : root) {
            int np = t.path("n_prompt").asInt(), ng = t.path("n_gen").asInt();
            double ts = t.path("avg_ts").asDouble(), sd = t.path("stddev_ts").asDouble();
            if (np == prompt && ng == 0 && prompt > 0) {
                pp = ts;
                ppSd = sd;
                found = true;
            } else if (np == 0 && ng == gen && gen > 0) {
                tg = ts;
                tgSd = sd;
                found = true;
            }
            build = t.path("build_commit").asText(build);
            cpu = t.path("cpu_info").asText(cpu);
        }
        if (!found) {
            throw new IllegalStateException("llama-bench reported no pp" + prompt + " or tg" + gen + " result");
        }
        return new Result(pp, tg, ppSd, tgSd, build, cpu);
    }

    private static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList();
            return lines.isEmpty() ? "(nothing on stderr)" : lines.getLast().strip();
        } catch (IOException e) {
            return "(its stderr could not be read)";
        }
    }
}
