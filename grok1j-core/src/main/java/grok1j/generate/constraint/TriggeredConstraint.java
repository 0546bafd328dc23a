package grok1j.generate.constraint;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Free text, or a trigger string followed by a constrained document: how a model chooses whether to call a tool
 * ({@code tool_choice: "auto"}, README "Tools"). While the text so far is a prefix of the trigger (after at most one
 * leading space) the choice is open and every token is allowed except one that would run past the trigger's end;
 * once the trigger is complete, {@code then} constrains the rest; a token that departs from the trigger leaves the
 * text unconstrained for good.
 *
 * <p>Immutable and thread-safe; each sequence gets its own {@link Matcher}.
 */
public final class TriggeredConstraint implements TokenConstraint {
    private final TokenIndex index;
    private final byte[] trigger;
    private final TokenConstraint then;
    /** Per open state (trigger bytes matched, leading space seen), the tokens that run past the trigger. */
    private final ConcurrentHashMap<Integer, int[]> straddling = new ConcurrentHashMap<>();

    /**
     * @param trigger non-empty text that must not start with a space
     * @param then    the constraint after the trigger
     * @throws IllegalArgumentException if the trigger is empty or starts with a space
     */
    public TriggeredConstraint(TokenIndex index, String trigger, TokenConstraint then) {
        this.index = index;
        this.trigger = trigger.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        this.then = then;
        if (this.trigger.length == 0 || this.trigger[0] == ' ') {
            throw new IllegalArgumentException("the trigger must be non-empty and not start with a space");
        }
    }

    @Override
    public Matcher start() {
        return new TriggerMatcher();
    }

    /** Where a token leads from an open state. */
    private enum Step { OPEN, TRIGGERED, FREE, PAST_TRIGGER }

    /** {@code state}: trigger bytes matched in the low bits, bit 30 set once a leading space was seen. */
    private Step step(int state, byte[] bytes, int[] after) {
        int matched = state & 0xFFFF;
        boolean space = (state & (1 << 30)) != 0;
        for (int i = 0; i < bytes.length; i++) {
            if (matched == trigger.length) {
                return Step.PAST_TRIGGER;
            }
            byte b = bytes[i];
            if (b == trigger[matched]) {
                matched++;
            } else if (b == ' ' && matched == 0 && !space) {
                space = true;
            } else {
                return Step.FREE;
            }
        }
        after[0] = matched | (space ? 1 << 30 : 0);
        return matched == trigger.length ? Step.TRIGGERED : Step.OPEN;
    }

    private int[] straddling(int state) {
        return straddling.computeIfAbsent(state, s -> {
            int[] out = new int[16];
            int n = 0;
            int[] after = new int[1];
            for (int id = 0; id < index.vocab.size(); id++) {
                byte[] bytes = index.vocab.bytes(id);
                if (bytes != null && step(s, bytes, after) == Step.PAST_TRIGGER) {
                    if (n == out.length) {
                        out = Arrays.copyOf(out, n * 2);
                    }
                    out[n++] = id;
                }
            }
            return Arrays.copyOf(out, n);
        });
    }

    private final class TriggerMatcher implements Matcher {
        private int state; // while open
        private boolean free;
        private Matcher inner;

        @Override
        public void mask(float[] logits, int remaining) {
            if (inner != null) {
                inner.mask(logits, remaining);
            } else if (!free) {
                for (int id : straddling(state)) {
                    logits[id] = Float.NEGATIVE_INFINITY;
                }
            }
        }

        @Override
        public void accept(int id) {
            if (inner != null) {
                inner.accept(id);
                return;
            }
            if (free) {
                return;
            }
            byte[] bytes = id >= 0 && id < index.vocab.size() ? index.vocab.bytes(id) : null;
            if (bytes == null) {
                free = true; // end of sequence or a control token: a (possibly empty) text reply
                return;
            }
            int[] after = new int[1];
            switch (step(state, bytes, after)) {
                case OPEN -> state = after[0];
                case TRIGGERED -> inner = then.start();
                case FREE -> free = true;
                case PAST_TRIGGER -> throw new IllegalStateException("token " + id + " runs past the trigger");
            }
        }

        @Override
        public boolean complete() {
            return inner != null && inner.complete();
        }

        @Override
        public boolean finished() {
            return inner != null && inner.finished();
        }
    }
}
