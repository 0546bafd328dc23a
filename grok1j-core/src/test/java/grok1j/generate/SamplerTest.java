package grok1j.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SamplerTest {
    static SamplingParams params(double temperature, int topK, double topP, double minP, long seed) {
        return new SamplingParams(temperature, topK, topP, minP, seed, 16, List.of(), false);
    }

    @Test
    void greedyTakesTheArgmaxAndTheLowerIdOnTies() {
        Sampler s = new Sampler(SamplingParams.greedy(1));
        assertEquals(2, s.sample(new float[] {0.1f, 0.5f, 3f, -1f}));
        assertEquals(1, s.sample(new float[] {0f, 7f, 7f, 7f}));
    }

    @Test
    void sameSeedSameTokens() {
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) Math.sin(i * 0.37) * 3;
        }
        Sampler a = new Sampler(params(1.0, 0, 1, 0, 42));
        Sampler b = new Sampler(params(1.0, 0, 1, 0, 42));
        for (int i = 0; i < 50; i++) {
            assertEquals(a.sample(logits), b.sample(logits));
        }
    }

    @Test
    void topKOneIsGreedy() {
        float[] logits = {1f, 2f, 5f, 4f};
        Sampler s = new Sampler(params(5.0, 1, 1, 0, 1));
        for (int i = 0; i < 100; i++) {
            assertEquals(2, s.sample(logits));
        }
    }

    @Test
    void topPKeepsTheNucleusOnly() {
        // probabilities ~ 0.665, 0.245, 0.090: top-p 0.6 keeps only the first
        float[] logits = {2f, 1f, 0f};
        Sampler s = new Sampler(params(1.0, 0, 0.6, 0, 7));
        for (int i = 0; i < 200; i++) {
            assertEquals(0, s.sample(logits));
        }
        // top-p 0.9 keeps two; both must appear, never the third
        Sampler t = new Sampler(params(1.0, 0, 0.9, 0, 7));
        boolean[] seen = new boolean[3];
        for (int i = 0; i < 2000; i++) {
            seen[t.sample(logits)] = true;
        }
        assertTrue(seen[0] && seen[1] && !seen[2]);
    }

    @Test
    void minPDropsUnlikelyTokens() {
        // p = 0.665, 0.245, 0.090; min-p 0.2 keeps tokens with p >= 0.133: ids 0 and 1
        float[] logits = {2f, 1f, 0f};
        Sampler s = new Sampler(params(1.0, 0, 1, 0.2, 3));
        boolean[] seen = new boolean[3];
        for (int i = 0; i < 2000; i++) {
            seen[s.sample(logits)] = true;
        }
        assertTrue(seen[0] && seen[1] && !seen[2]);
    }

    @Test
    void samplingFollowsTheDistribution() {
        float[] logits = {(float) Math.log(0.7), (float) Math.log(0.2), (float) Math.log(0.1)};
        Sampler s = new Sampler(params(1.0, 0, 1, 0, 11));
        int[] counts = new int[3];
        int n = 20000;
        for (int i = 0; i < n; i++) {
            counts[s.sample(logits)]++;
        }
        assertEquals(0.7, counts[0] / (double) n, 0.02);
        assertEquals(0.2, counts[1] / (double) n, 0.02);
        assertEquals(0.1, counts[2] / (double) n, 0.02);
    }

    @Test
    void invalidParametersAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> params(-1, 0, 1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> params(1, -2, 1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> params(1, 0, -0.1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> params(1, 0, 1.5, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> params(1, 0, 1, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, 0, 1, 0, 1L, 4, List.of(""), false));
    }
}
