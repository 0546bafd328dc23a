package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.TestFiles;
import grok1j.tensor.ThreadPool;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Prompt rows have the same arithmetic however the prompt is cut (the premise of the prefix cache): a prompt run in
 * one call, in chunks, after a prefix of any length, or beside other sequences' decode steps gives bit-identical keys,
 * values and logits.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PromptNumericsTest {
    Model model;
    int[] ids;
    KvCache cold;
    float[] coldLogits;

    /** The model under test: the official checkpoint here, a GGUF conversion in {@link GgufPromptNumericsTest}. */
    Model open() throws Exception {
        return Model.open(TestFiles.tinyModel(), null, new ThreadPool(2));
    }

    @BeforeAll
    void load() throws Exception {
        model = open();
        ids = new Random(1).ints(300, 3, 30000).toArray();
        cold = model.network().newCache();
        coldLogits = run(cold, List.of(0, ids.length), null);
    }

    @AfterAll
    void close() {
        model.close();
    }

    /** Runs ids in the chunks cut at {@code cuts} (logits ALL), each call beside {@code decode}'s one-token step. */
    float[] run(KvCache cache, List<Integer> cuts, KvCache decode) {
        int vocab = model.config().vocabSize();
        float[] all = new float[ids.length * vocab];
        for (int c = 0; c + 1 < cuts.size(); c++) {
            int from = cuts.get(c), to = cuts.get(c + 1);
            List<Transformer.Step> steps = new ArrayList<>();
            if (decode != null) {
                steps.add(new Transformer.Step(new int[] {7 + c}, 0, 1, decode, Transformer.Logits.LAST, false));
            }
            steps.add(new Transformer.Step(ids, from, to - from, cache, Transformer.Logits.ALL, true));
            List<float[]> out = model.network().forward(steps);
            System.arraycopy(out.getLast(), 0, all, from * vocab, (to - from) * vocab);
        }
        return all;
    }

    void assertSame(KvCache cache, float[] logits, int from) {
        int vocab = model.config().vocabSize();
        assertEquals(cold.length(), cache.length());
        for (int l = 0; l < model.config().layers(); l++) {
            int n = cold.length() * cold.rowWidth();
            assertArrayEquals(Arrays.copyOf(cold.keys(l), n), Arrays.copyOf(cache.keys(l), n), "keys of layer " + l);
            assertArrayEquals(Arrays.copyOf(cold.values(l), n), Arrays.copyOf(cache.values(l), n), "values of layer " + l);
        }
        for (int t = from; t < ids.length; t++) {
            assertArrayEquals(Arrays.copyOfRange(coldLogits, t * vocab, (t + 1) * vocab),
                    Arrays.copyOfRange(logits, t * vocab, (t + 1) * vocab), "logits at position " + t);
        }
    }

    @Test
    void remainderAfterAPrefixOfAnyLength() {
        for (int k : new int[] {1, 5, 16, 255, 299}) {
            KvCache warm = model.network().newCache();
            float[] logits = run(warm, List.of(0, k, ids.length), null);
            assertSame(warm, logits, k);
        }
    }

    /** Scratch allocated ahead ({@link Transformer#reserve}, as the bench does) changes nothing; 0 rows is refused. */
    @Test
    void reservedScratch() {
        model.network().reserve(512);
        KvCache warm = model.network().newCache();
        float[] logits = run(warm, List.of(0, 1, 200, ids.length), null);
        assertSame(warm, logits, 0);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> model.network().reserve(0));
    }

    @Test
    void chunksOfAnySizeBesideDecodeSteps() {
        KvCache other = model.network().newCache();
        model.network().forward(new int[] {5, 6}, 0, 2, other, Transformer.Logits.LAST);
        KvCache warm = model.network().newCache();
        float[] logits = run(warm, List.of(0, 3, 4, 9, 100, 256, 299, 300), other);
        assertSame(warm, logits, 0);
    }
}
