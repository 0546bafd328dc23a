package grok1j.generate;

import grok1j.generate.constraint.TokenConstraint;
import java.util.BitSet;

/** One sequence's {@link LogitsProcessing}: what it has generated so far and its constraint's position. */
final class LogitsProcessor {
    private final LogitsProcessing p;
    private final TokenConstraint.Matcher matcher;
    private final int[] counts;
    private final BitSet seen;
    private float[] scratch = new float[0];

    LogitsProcessor(LogitsProcessing p, int[] promptIds, int vocab) {
        this.p = p;
        this.matcher = p.constraint() == null ? null : p.constraint().start();
        this.counts = p.presencePenalty() != 0 || p.frequencyPenalty() != 0 ? new int[vocab] : null;
        if (p.repetitionPenalty() != 1) {
            seen = new BitSet(vocab);
            for (int id : promptIds) {
                seen.set(id);
            }
        } else {
            seen = null;
        }
    }

    /**
     * @param logits    the model's {@code [vocab]} logits, not modified
     * @param remaining tokens the sequence may still generate, this one included
     * @return the logits to sample from (a copy when anything changed them)
     */
    float[] apply(float[] logits, int remaining) {
        if (scratch.length != logits.length) {
            scratch = new float[logits.length];
        }
        System.arraycopy(logits, 0, scratch, 0, logits.length);
        Penalties.logitBias(scratch, p.logitBias());
        if (seen != null) {
            Penalties.repetition(scratch, seen, p.repetitionPenalty());
        }
        if (counts != null) {
            Penalties.frequencyPresence(scratch, counts, p.frequencyPenalty(), p.presencePenalty());
        }
        if (matcher != null) {
            matcher.mask(scratch, remaining);
        }
        return scratch;
    }

    /** Records the sampled token. */
    void accept(int id) {
        if (counts != null && id < counts.length) {
            counts[id]++;
        }
        if (seen != null) {
            seen.set(id);
        }
        if (matcher != null) {
            matcher.accept(id);
        }
    }

    /** @return true when a constraint's document is complete and nothing may follow */
    boolean finished() {
        return matcher != null && matcher.finished();
    }

    /** @return true when a constraint's document is complete (it may still go on, like a number) */
    boolean complete() {
        return matcher != null && matcher.complete();
    }

    boolean constrained() {
        return matcher != null;
    }
}
