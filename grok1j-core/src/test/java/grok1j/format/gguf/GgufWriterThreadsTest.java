package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import grok1j.format.pickle.OfficialCheckpoint;
import grok1j.model.GrokConfig;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Converting with a thread pool writes the same bytes as converting on one thread: a random one-layer checkpoint
 * whose matrices suit Q8_0 and the K-quants (d_model 256, expert FFN 512), to Q8_0, Q4_K and Q6_K, on the calling
 * thread alone and with pools of 2 and 3 threads (which cut the tiles differently).
 */
class GgufWriterThreadsTest {
    static final GrokConfig CONFIG = GgufQuantizedModelTest.CONFIG.withLayers(1);

    @TempDir
    Path dir;

    @Test
    void theBytesDoNotDependOnTheThreads() throws IOException {
        Path root = RandomCheckpoint.write(dir.resolve("random"),
                new RandomCheckpoint.Shape(CONFIG, 0.02, 3.0, 16.0, 1.0, 8, 2), 5);
        try (OfficialCheckpoint ckpt = OfficialCheckpoint.open(root);
             ThreadPool two = new ThreadPool(2);
             ThreadPool three = new ThreadPool(3)) {
            for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K}) {
                byte[] one = null;
                for (ThreadPool pool : new ThreadPool[] {null, two, three}) {
                    Path out = dir.resolve(t + "-" + (pool == null ? 1 : pool.threads()) + ".gguf");
                    GgufConverter.convert(ckpt.weights(), TinyGrok.vocab(CONFIG.vocabSize()), t, "random", out, 0, null,
                            pool);
                    byte[] bytes = Files.readAllBytes(out);
                    if (one == null) {
                        one = bytes;
                    } else {
                        assertArrayEquals(one, bytes, t + " with " + pool.threads() + " threads");
                    }
                }
            }
        }
    }
}
