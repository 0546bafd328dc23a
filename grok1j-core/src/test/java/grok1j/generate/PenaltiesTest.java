package grok1j.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.BitSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The logit adjustments against their published formulas, on hand-made logits. */
class PenaltiesTest {
    @Test
    void frequencyAndPresenceFollowOpenAi() {
        // OpenAI: mu[j] - c[j] * alpha_frequency - (c[j] > 0) * alpha_presence
        float[] logits = {2.0f, 1.0f, -0.5f, 3.0f};
        int[] counts = {0, 1, 3, 2};
        Penalties.frequencyPresence(logits, counts, 0.5, 0.25);
        assertArrayEquals(new float[] {2.0f, 1.0f - 0.5f - 0.25f, -0.5f - 1.5f - 0.25f, 3.0f - 1.0f - 0.25f}, logits, 1e-6f);
    }

    @Test
    void negativePenaltiesEncourageRepeats() {
        float[] logits = {0f, 0f};
        Penalties.frequencyPresence(logits, new int[] {2, 0}, -1, -0.5);
        assertArrayEquals(new float[] {2.5f, 0f}, logits, 1e-6f);
    }

    @Test
    void repetitionDividesPositiveAndMultipliesNegativeLogits() {
        // CTRL (Keskar et al. 2019) as vLLM/llama.cpp: seen tokens, l > 0 ? l / p : l * p
        float[] logits = {2.0f, -2.0f, 4.0f, -1.0f};
        BitSet seen = new BitSet();
        seen.set(0);
        seen.set(1);
        seen.set(3);
        Penalties.repetition(logits, seen, 1.25);
        assertArrayEquals(new float[] {1.6f, -2.5f, 4.0f, -1.25f}, logits, 1e-6f);
    }

    @Test
    void logitBiasIsAdded() {
        float[] logits = {1f, 2f, 3f};
        Penalties.logitBias(logits, Map.of(0, 5f, 2, -100f));
        assertArrayEquals(new float[] {6f, 2f, -97f}, logits, 1e-6f);
    }

    @Test
    void biasOfMinus100OnTheGreedyTokenChangesIt() {
        float[] logits = {0.3f, 1.7f, 1.2f, -0.4f};
        SamplingParams greedy = SamplingParams.greedy(4);
        LogitsProcessor plain = new LogitsProcessor(LogitsProcessing.NONE.withLogitBias(Map.of()), new int[] {0}, 4);
        assertEquals(1, new Sampler(greedy).sample(plain.apply(logits, 4)));
        LogitsProcessor biased = new LogitsProcessor(LogitsProcessing.NONE.withLogitBias(Map.of(1, -100f)), new int[] {0}, 4);
        int id = new Sampler(greedy).sample(biased.apply(logits, 4));
        assertNotEquals(1, id);
        assertEquals(2, id);
        assertEquals(1.7f, logits[1]); // the model's logits are left alone
    }

    @Test
    void processorCountsWhatWasGenerated() {
        float[] logits = {1f, 1f, 1f};
        LogitsProcessor p = new LogitsProcessor(LogitsProcessing.NONE.withPenalties(0.5, 1.0, 2.0), new int[] {2}, 3);
        p.accept(0);
        p.accept(0);
        // token 0: generated twice (repetition /2, then -2*1 - 0.5); token 2: in the prompt only (repetition /2)
        assertArrayEquals(new float[] {0.5f - 2.5f, 1f, 0.5f}, p.apply(logits, 3), 1e-6f);
    }

    @Test
    void outOfRangeValuesAreRefusedByName() {
        assertEquals("presence penalty must be in [-2, 2], got 3.0", assertThrows(IllegalArgumentException.class,
                () -> LogitsProcessing.NONE.withPenalties(3, 0, 1)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> LogitsProcessing.NONE.withPenalties(0, -2.5, 1));
        assertThrows(IllegalArgumentException.class, () -> LogitsProcessing.NONE.withPenalties(0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> LogitsProcessing.NONE.withLogitBias(Map.of(1, 101f)));
        assertEquals(LogitsProcessing.NONE, new SamplingParams(1, 0, 1, 0, null, 4, List.of(), false).processing());
    }
}
