package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.generate.GenerationContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code attn_logit_softcapping: 0} in config.json means no cap (Hugging Face's convention), not an error. */
class SoftcapZeroTest {
    @TempDir
    Path tmp;

    /** The tiny fixture's shards (linked, read only) with its config.json but another soft-cap. */
    private Path withSoftcap(String name, String cap) throws IOException {
        Path fixture = TestFiles.tinyModel();
        Path dir = Files.createDirectories(tmp.resolve(name).resolve("ckpt-0"));
        try (Stream<Path> files = Files.list(fixture.resolve("ckpt-0"))) {
            for (Path p : files.toList()) {
                Files.createSymbolicLink(dir.resolve(p.getFileName()), p);
            }
        }
        String config = Files.readString(fixture.resolve("config.json"));
        assertTrue(config.contains("\"attn_logit_softcapping\": 30.0"), config);
        Files.writeString(dir.resolveSibling("config.json"), config.replace("\"attn_logit_softcapping\": 30.0",
                "\"attn_logit_softcapping\": " + cap));
        Files.createSymbolicLink(dir.resolveSibling("tokenizer.model"), fixture.resolve("tokenizer.model"));
        return dir.getParent();
    }

    private static float[] lastLogits(Path model, int[] ids) throws IOException {
        try (Model m = Model.open(model)) {
            GenerationContext ctx = m.newContext();
            return m.network().forward(ids, 0, ids.length, ctx.cache(), Transformer.Logits.LAST);
        }
    }

    @Test
    void zeroMeansNoCap() throws IOException {
        int[] ids = {422, 3033, 356, 1180, 333, 9072, 360, 2175, 391, 359, 1805};
        float[] none = lastLogits(withSoftcap("zero", "0"), ids);
        float[] huge = lastLogits(withSoftcap("huge", "1e30"), ids);   // c*tanh(x/c) = x to float precision
        float[] tight = lastLogits(withSoftcap("tight", "0.01"), ids); // a cap that bites
        double maxDelta = 0, tightDelta = 0;
        for (int v = 0; v < none.length; v++) {
            maxDelta = Math.max(maxDelta, Math.abs(none[v] - huge[v]));
            tightDelta = Math.max(tightDelta, Math.abs(none[v] - tight[v]));
        }
        assertEquals(0, maxDelta, 1e-5, "cap 0 = no cap");
        assertTrue(tightDelta > 1e-3, "the cap is applied when positive: " + tightDelta);
    }
}
