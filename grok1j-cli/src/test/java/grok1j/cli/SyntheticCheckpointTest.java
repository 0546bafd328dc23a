package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import grok1j.format.ModelFiles;
import grok1j.format.gguf.GgufConverter;
import grok1j.format.gguf.GgufVocab;
import grok1j.format.pickle.OfficialCheckpoint;
import grok1j.model.GrokConfig;
import grok1j.model.KvCache;
import grok1j.model.Transformer;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench --write-checkpoint} on a tiny config (the tiny fixture's shape, 12 layers so the lexicographic file
 * order matters): the folder opens with the official reader, its forward pass equals the in-memory synthetic model's
 * bit for bit, and {@code grok1j convert} turns it into GGUF (finding the tokenizer beside {@code ckpt-0/}) with the
 * bytes of a direct conversion of the in-memory model (the {@code --write-gguf} route).
 */
class SyntheticCheckpointTest {
    @TempDir
    Path dir;

    @Test
    void writtenCheckpointComputesTheSyntheticModel() throws Exception {
        Path fixture = BenchCommandTest.tiny();
        GrokConfig cfg;
        try (OfficialCheckpoint f = OfficialCheckpoint.open(fixture)) {
            cfg = f.config();
        }
        Path root = dir.resolve("synthetic");
        int[] tokens = {5, 900, 77, 131000, 42, 3};
        try (ThreadPool pool = new ThreadPool(2)) {
            float[] want;
            try (SyntheticModel sm = new SyntheticModel(cfg, pool)) {
                want = new Transformer(sm.weights(), pool).forward(tokens, 0, tokens.length, new KvCache(cfg),
                        Transformer.Logits.ALL);
                // what --write-gguf would write (under convert's default name)
                GgufConverter.convert(sm.weights(), GgufVocab.of(ModelFiles.loadTokenizer(fixture.resolve("tokenizer.model"))),
                        GgmlType.Q8_0, "grok-1", dir.resolve("direct.gguf"), 0, null, pool);
            }
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            SyntheticCheckpoint.write(cfg, pool, root, fixture.resolve("tokenizer.model"),
                    new PrintStream(err, true, StandardCharsets.UTF_8));
            try (OfficialCheckpoint ckpt = OfficialCheckpoint.open(root)) {
                assertEquals(cfg, ckpt.config());
                float[] got = new Transformer(ckpt.weights(), pool).forward(tokens, 0, tokens.length, new KvCache(cfg),
                        Transformer.Logits.ALL);
                assertArrayEquals(want, got);
            }
        }
        Path gguf = dir.resolve("synthetic-q8_0.gguf");
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status = Main.run(new String[] {"convert", "--type", "q8_0", root.toString(), gguf.toString()},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        // the checkpoint route gives the bytes of the direct one
        assertArrayEquals(Files.readAllBytes(dir.resolve("direct.gguf")), Files.readAllBytes(gguf));
    }

    @Test
    void refusesAnExistingCheckpoint() throws Exception {
        Files.createDirectories(dir.resolve("ckpt-0"));
        try (ThreadPool pool = new ThreadPool(1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SyntheticCheckpoint.write(
                    BenchCommand.syntheticConfig(null, 1), pool, dir, null, System.err));
            assertEquals(dir.resolve("ckpt-0") + " exists; give an empty or new folder", e.getMessage());
        }
    }
}
