package grok1j.generate;

import grok1j.generate.constraint.TokenConstraint;
import java.util.Map;

/**
 * What changes the logits before sampling, applied in this order (as vLLM does): {@code logitBias}, the repetition
 * penalty, the frequency and presence penalties, then the constraint's mask. See {@link Penalties} for the formulas.
 *
 * @param logitBias         token id to a bias in [-100, 100] added to its logit (OpenAI {@code logit_bias})
 * @param presencePenalty   in [-2, 2]: subtracted once from the logit of every token already generated (OpenAI)
 * @param frequencyPenalty  in [-2, 2]: subtracted from a token's logit once per time it was generated (OpenAI)
 * @param repetitionPenalty &gt; 0, 1 disables: the logit of a token in the prompt or generated text is divided by it
 *                          when positive, multiplied when negative (CTRL; vLLM, llama.cpp over the whole text)
 * @param constraint        allowed continuations (structured outputs), or null
 */
public record LogitsProcessing(Map<Integer, Float> logitBias, double presencePenalty, double frequencyPenalty,
                               double repetitionPenalty, TokenConstraint constraint) {
    /** Nothing changes the logits. */
    public static final LogitsProcessing NONE = new LogitsProcessing(Map.of(), 0, 0, 1, null);

    /** @throws IllegalArgumentException naming the parameter that is out of range */
    public LogitsProcessing {
        logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
        for (Map.Entry<Integer, Float> e : logitBias.entrySet()) {
            if (e.getKey() < 0 || !(e.getValue() >= -100 && e.getValue() <= 100)) {
                throw new IllegalArgumentException("logit bias must map token ids >= 0 to values in [-100, 100], got "
                        + e.getKey() + ": " + e.getValue());
            }
        }
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw new IllegalArgumentException("presence penalty must be in [-2, 2], got " + presencePenalty);
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw new IllegalArgumentException("frequency penalty must be in [-2, 2], got " + frequencyPenalty);
        }
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition penalty must be > 0, got " + repetitionPenalty);
        }
    }

    /** @return true if anything changes the logits */
    public boolean active() {
        return !logitBias.isEmpty() || presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1
                || constraint != null;
    }

    public LogitsProcessing withConstraint(TokenConstraint c) {
        return new LogitsProcessing(logitBias, presencePenalty, frequencyPenalty, repetitionPenalty, c);
    }

    public LogitsProcessing withPenalties(double presence, double frequency, double repetition) {
        return new LogitsProcessing(logitBias, presence, frequency, repetition, constraint);
    }

    public LogitsProcessing withLogitBias(Map<Integer, Float> bias) {
        return new LogitsProcessing(bias, presencePenalty, frequencyPenalty, repetitionPenalty, constraint);
    }
}
