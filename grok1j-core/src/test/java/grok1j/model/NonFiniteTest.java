package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.format.CheckpointLayout;
import grok1j.generate.SamplingParams;
import grok1j.tensor.ThreadPool;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The numerical guard rail: a NaN weight ends the sequences whose activations it reaches with a
 * {@link NonFiniteException} naming the first sub-step that went non-finite; sequences it does not reach run as on
 * the clean model.
 */
class NonFiniteTest {
    @TempDir
    Path dir;

    private static String generate(Model model, String prompt) {
        return model.newContext().generate(prompt, SamplingParams.greedy(8), (id, t) -> {}).text();
    }

    @Test
    void nanInOneExpertEndsOnlyTheSequencesRoutedToIt() throws Exception {
        Path m = NanFixture.withNaNInExpert(dir, 11, CheckpointLayout.Slot.DOWN, 5);
        String clean;
        try (Model model = Model.open(TestFiles.tinyModel(), null, new ThreadPool(2))) {
            clean = generate(model, "Hello");
        }
        try (Model model = Model.open(m, null, new ThreadPool(2))) {
            // the last layer runs its MoE only for rows that need logits: "Hello" and its 8 tokens never pick expert 5
            assertEquals(clean, generate(model, "Hello"));
            NonFiniteException e = assertThrows(NonFiniteException.class, () -> generate(model, "Paris is"));
            assertEquals("layer 11 expert 5 down projection", e.location());
            assertEquals("the logits at position 2 are not finite (NaN or infinite): the activations first went "
                    + "non-finite in layer 11 expert 5 down projection; check the weights with grok1j inspect --check",
                    e.getMessage());
            // the model stays usable after a failed sequence
            assertEquals(clean, generate(model, "Hello"));
        }
    }

    @Test
    void scoringNamesTheAttentionOutputProjection() throws Exception {
        Path m = NanFixture.withNaNInMatrix(dir, 0, CheckpointLayout.Slot.ATTN_OUTPUT);
        try (Model model = Model.open(m, null, new ThreadPool(2))) {
            int[] ids = model.tokenizer().encode("Hello world");
            NonFiniteException e = assertThrows(NonFiniteException.class, () -> model.newContext().score(ids));
            assertEquals("layer 0 attention output projection", e.location());
            assertTrue(e.getMessage().startsWith("the logits at position 0 are not finite"), e.getMessage());
        }
    }

    @Test
    void aNormScaleIsNamed() throws Exception {
        Path m = NanFixture.withNaNInNorm(dir, 2, CheckpointLayout.Slot.PRE_MOE_NORM, 7);
        try (Model model = Model.open(m, null, new ThreadPool(2))) {
            NonFiniteException e = assertThrows(NonFiniteException.class, () -> generate(model, "Hello"));
            assertEquals("layer 2 pre-MoE norm", e.location());
        }
    }

    @Test
    void theScanFindsNaNAndInfinities() {
        float[] row = new float[100];
        assertTrue(!NonFiniteException.anyNonFinite(row, 0, 100));
        row[97] = Float.NEGATIVE_INFINITY;
        assertTrue(NonFiniteException.anyNonFinite(row, 0, 100));
        assertTrue(!NonFiniteException.anyNonFinite(row, 0, 97));
        row[97] = Float.NaN;
        assertTrue(NonFiniteException.anyNonFinite(row, 90, 10));
        row[97] = Float.MAX_VALUE;
        assertTrue(!NonFiniteException.anyNonFinite(row, 0, 100));
    }
}
