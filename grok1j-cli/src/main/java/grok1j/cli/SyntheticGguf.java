package grok1j.cli;

import grok1j.format.gguf.GgufConverter;
import grok1j.format.gguf.GgufVocab;
import grok1j.format.ModelFiles;
import grok1j.model.GrokConfig;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code grok1j bench --write-gguf DIR}: the bench's synthetic Grok-1-shaped model (real dimensions, random int8
 * weights, {@link SyntheticModel}) converted to GGUF files, one per {@code --type}, named
 * {@code grok1-L<layers>-<type>.gguf}: the test files for comparing decode and prefill with other engines on the same
 * bytes. The vocabulary comes from a real Grok-1 {@code tokenizer.model}, so llama.cpp loads the files too.
 */
final class SyntheticGguf {
    private SyntheticGguf() {}

    static List<Path> write(GrokConfig cfg, ThreadPool pool, List<GgmlType> types, Path dir, Path tokenizer, PrintStream err)
            throws IOException {
        if (tokenizer == null) {
            throw new IllegalArgumentException("--write-gguf needs --tokenizer PATH (Grok-1's tokenizer.model)");
        }
        GgufVocab vocab = GgufVocab.of(ModelFiles.loadTokenizer(tokenizer));
        if (vocab.tokens().length != cfg.vocabSize()) {
            throw new IllegalArgumentException("--tokenizer " + tokenizer + " has " + vocab.tokens().length
                    + " pieces; a Grok-1-shaped model needs " + cfg.vocabSize());
        }
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        try (SyntheticModel sm = new SyntheticModel(cfg, pool)) {
            for (GgmlType t : types) {
                Path out = dir.resolve("grok1-L" + cfg.layers() + "-" + t.name().toLowerCase(Locale.ROOT) + ".gguf");
                err.println("bench: writing " + out);
                long t0 = System.nanoTime();
                GgufConverter.convert(sm.weights(), vocab, t, "grok-1 synthetic " + cfg.layers() + " layers", out, 0,
                        (tensor, done, total) -> { }, pool);
                err.printf("bench: wrote %s (%,d bytes) in %.0f s%n", out, Files.size(out), (System.nanoTime() - t0) / 1e9);
                written.add(out);
            }
        }
        return written;
    }
}
