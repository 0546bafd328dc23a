package grok1j.generate;

import java.util.BitSet;
import java.util.Map;

/** The published logit adjustments, in place on {@code [vocab]} logits. */
public final class Penalties {
    private Penalties() {
    }

    /** OpenAI {@code logit_bias}: {@code logits[id] += bias}; ids outside the vocabulary are ignored by the caller's check. */
    public static void logitBias(float[] logits, Map<Integer, Float> bias) {
        for (Map.Entry<Integer, Float> e : bias.entrySet()) {
            if (e.getKey() < logits.length) {
                logits[e.getKey()] += e.getValue();
            }
        }
    }

    /**
     * OpenAI's frequency and presence penalties:
     * {@code logits[j] -= counts[j] * frequency + (counts[j] > 0 ? presence : 0)}, with {@code counts[j]} the times
     * token j was generated so far.
     */
    public static void frequencyPresence(float[] logits, int[] counts, double frequency, double presence) {
        for (int j = 0; j < logits.length; j++) {
            if (counts[j] > 0) {
                logits[j] -= (float) (counts[j] * frequency + presence);
            }
        }
    }

    /**
     * The CTRL repetition penalty (Keskar et al. 2019, as vLLM and llama.cpp apply it): for every token in {@code seen},
     * a positive logit is divided by {@code penalty}, a negative one multiplied.
     */
    public static void repetition(float[] logits, BitSet seen, double penalty) {
        for (int j = seen.nextSetBit(0); j >= 0 && j < logits.length; j = seen.nextSetBit(j + 1)) {
            logits[j] = logits[j] > 0 ? (float) (logits[j] / penalty) : (float) (logits[j] * penalty);
        }
    }
}
