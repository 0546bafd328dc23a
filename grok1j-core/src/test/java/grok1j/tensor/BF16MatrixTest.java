package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.IntVector;
import org.junit.jupiter.api.Test;

/**
 * {@link BF16Matrix} against its scalar reference (odd sizes, 1-13 tokens, partial column ranges, exact upcast, rank
 * slices as views) at the preferred vector width here, and at every narrower width in a child JVM each (the kernels'
 * species is a {@code static final}, kernels.md §4.3, so a width is chosen per JVM).
 */
class BF16MatrixTest {
    @Test
    void preferredWidth() {
        BF16MatrixChecks.all();
    }

    @Test
    void acrossThreads() {
        try (ThreadPool pool = new ThreadPool(2)) {
            java.util.Random rnd = new java.util.Random(3);
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
                BF16Matrix w = BF16Matrix.of(BF16MatrixChecks.weights(arena, 301, 257, rnd), 301, 257);
                for (int tokens : new int[] {1, 3, 11}) {
                    float[] x = BF16MatrixChecks.activations(tokens * 257, rnd);
                    float[] a = new float[tokens * 301];
                    float[] b = new float[tokens * 301];
                    Kernels.matmul(pool, w, x, tokens, a);
                    w.multiply(x, tokens, b, 0, 301);
                    assertTrue(java.util.Arrays.equals(a, b), "threads split columns, each computes the same sums");
                }
            }
        }
    }

    @Test
    void narrowerWidthsInChildJvms() throws IOException, InterruptedException {
        int preferred = IntVector.SPECIES_PREFERRED.vectorBitSize();
        String java = ProcessHandle.current().info().command().orElse("java");
        for (int bits = 128; bits < preferred; bits *= 2) {
            List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-Xmx256m",
                    "-XX:TieredStopAtLevel=1", "-Dgrok1j.vector.bits=" + bits, "-cp", System.getProperty("java.class.path"),
                    BF16MatrixChecks.class.getName()));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
            assertEquals(0, p.exitValue(), bits + "-bit run failed: " + output);
            assertTrue(output.contains("ok " + bits), output);
        }
    }
}
