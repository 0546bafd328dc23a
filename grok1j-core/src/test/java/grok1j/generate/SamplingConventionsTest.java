package grok1j.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The values other engines give a special meaning mean the same here: top-p 0 is greedy, top-k -1 is no limit. */
class SamplingConventionsTest {
    static SamplingParams params(double temperature, int topK, double topP, long seed) {
        return new SamplingParams(temperature, topK, topP, 0, seed, 16, List.of(), false);
    }

    @Test
    void topPZeroIsGreedy() {
        // nearly flat at temperature 2: sampling would pick others often; top-p 0 always takes the arg-max
        float[] logits = {1f, 1.01f, 0.99f, 1.005f};
        Sampler s = new Sampler(params(2.0, 0, 0, 3));
        for (int i = 0; i < 200; i++) {
            assertEquals(1, s.sample(logits));
        }
    }

    @Test
    void topKMinusOneIsNoLimit() {
        float[] logits = {1f, 1f, 1f, 1f};
        Sampler s = new Sampler(params(1.0, -1, 1, 5));
        boolean[] seen = new boolean[4];
        for (int i = 0; i < 400; i++) {
            seen[s.sample(logits)] = true;
        }
        assertTrue(seen[0] && seen[1] && seen[2] && seen[3]);
    }
}
