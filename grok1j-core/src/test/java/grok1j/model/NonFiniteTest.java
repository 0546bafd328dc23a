package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.format.pickle.CheckpointLayout;
import grok1j.generate.SamplingParams;
import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.generate.GenerationContext;
import grok1j.parallel.InProcessGroup;
import grok1j.tensor.ThreadPool;
import grok1j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
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

    /** Tensor parallel (2 ranks as threads): rank 0 checks the gathered logits; the per-layer re-run is single-process only. */
    @Test
    void tensorParallelRankZeroChecksTheGatheredLogits() throws Exception {
        Path m = NanFixture.withNaNInExpert(dir, 11, CheckpointLayout.Slot.DOWN, 5);
        String clean;
        try (Model model = Model.open(TestFiles.tinyModel(), null, new ThreadPool(2))) {
            clean = generate(model, "Hello");
        }
        ExecutorService ex = Executors.newSingleThreadExecutor();
        try (ModelFile file = ModelFiles.open(m)) {
            Tokenizer tok = ModelFiles.tokenizer(file, null);
            InProcessGroup group = new InProcessGroup(2);
            Transformer leader = new Transformer(file.weights(), new ThreadPool(1), group.rank(0));
            Transformer follower = new Transformer(file.weights(), new ThreadPool(1), group.rank(1));
            Future<?> following = ex.submit(() -> follower.follow());
            try {
                SamplingParams greedy = SamplingParams.greedy(8);
                NonFiniteException e = assertThrows(NonFiniteException.class,
                        () -> new GenerationContext(leader, tok).generate("Paris is", greedy, (id, t) -> {}));
                assertEquals(null, e.location());
                assertEquals("the logits at position 2 are not finite (NaN or infinite) (the per-layer re-run that names"
                        + " the tensor runs on a single process only: run without mpirun to find it); check the weights"
                        + " with grok1j inspect --check", e.getMessage());
                assertEquals(clean, new GenerationContext(leader, tok).generate("Hello", greedy, (id, t) -> {}).text());
            } finally {
                leader.stopFollowers();
            }
            following.get(60, TimeUnit.SECONDS);
        } finally {
            ex.shutdownNow();
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
