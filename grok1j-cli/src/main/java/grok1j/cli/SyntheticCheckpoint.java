package grok1j.cli;

import grok1j.format.pickle.OfficialCheckpointWriter;
import grok1j.model.GrokConfig;
import grok1j.tensor.ThreadPool;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code grok1j bench --write-checkpoint DIR}: the bench's synthetic Grok-1-shaped model (real dimensions, random int8
 * weights, {@link SyntheticModel}) written as an official-format checkpoint folder (spec §4: {@code DIR/ckpt-0/} with
 * one pickle shard per tensor, {@code DIR/config.json} for the layer count, and {@code DIR/tokenizer.model} when a
 * tokenizer is given), which {@code grok1j convert} turns into GGUF files of any type.
 */
final class SyntheticCheckpoint {
    private SyntheticCheckpoint() {}

    static void write(GrokConfig cfg, ThreadPool pool, Path dir, Path tokenizer, PrintStream err) throws IOException {
        if (tokenizer != null && !Files.isRegularFile(tokenizer)) {
            throw new IllegalArgumentException("no such tokenizer file: " + tokenizer);
        }
        if (Files.exists(dir.resolve("ckpt-0"))) {
            throw new IllegalArgumentException(dir.resolve("ckpt-0") + " exists; give an empty or new folder");
        }
        err.println("bench: writing a synthetic checkpoint to " + dir);
        long t0 = System.nanoTime();
        try (SyntheticModel sm = new SyntheticModel(cfg, pool)) {
            OfficialCheckpointWriter.write(sm.weights(), dir, tokenizer);
        }
        err.printf("bench: wrote %s (%d layers) in %.0f s%s%n", dir, cfg.layers(), (System.nanoTime() - t0) / 1e9,
                tokenizer == null ? "; no --tokenizer, so convert needs --tokenizer PATH" : "");
    }
}
