package grok1j.model;

import grok1j.TestFiles;
import grok1j.format.gguf.GgufConverter;
import grok1j.format.gguf.GgufVocab;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PromptNumericsTest} on a Q8_0 GGUF converted from the fixture: prompt rows of GGUF weights take the prefill
 * GEMM whatever their number (below its threshold too), so a remainder after a cached prefix matches a cold run.
 */
class GgufPromptNumericsTest extends PromptNumericsTest {
    @TempDir
    static Path dir;

    @Override
    Model open() throws Exception {
        ThreadPool pool = new ThreadPool(2);
        Path out = dir.resolve("grok-1-tiny-q8_0.gguf");
        try (Model checkpoint = Model.open(TestFiles.tinyModel(), null, pool)) {
            GgufConverter.convert(checkpoint.network().weights(), GgufVocab.of(checkpoint.tokenizer()), GgmlType.Q8_0,
                    "grok-1-tiny", out, 0, null);
        }
        return Model.open(out, null, pool);
    }
}
