package grok1j.generate.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Free text or a trigger then a JSON document, on a synthetic vocabulary (every byte and a few pieces). */
class TriggeredConstraintTest {
    static final List<byte[]> PIECES = new ArrayList<>();
    static final int EOS;
    static final int STRADDLE;
    static final int SPACE_TRIGGER;

    static {
        for (int b = 0; b < 256; b++) {
            PIECES.add(new byte[] {(byte) b});
        }
        STRADDLE = PIECES.size();
        PIECES.add("<t>[".getBytes(StandardCharsets.UTF_8));
        SPACE_TRIGGER = PIECES.size();
        PIECES.add(" <t>".getBytes(StandardCharsets.UTF_8));
        EOS = PIECES.size();
        PIECES.add(null);
    }

    static final TokenIndex INDEX = TokenIndex.of(new TokenBytes() {
        @Override
        public int size() {
            return PIECES.size();
        }

        @Override
        public byte[] bytes(int id) {
            return PIECES.get(id);
        }

        @Override
        public int eosId() {
            return EOS;
        }
    });

    static final TriggeredConstraint CALLS = new TriggeredConstraint(INDEX, "<t>",
            JsonSchemaConstraint.compile("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1}", INDEX));

    static float[] mask(TokenConstraint.Matcher m) {
        float[] logits = new float[PIECES.size()];
        m.mask(logits, 100);
        return logits;
    }

    @Test
    void theTriggerStartsTheConstrainedDocument() {
        TokenConstraint.Matcher m = CALLS.start();
        assertEquals(Float.NEGATIVE_INFINITY, mask(m)[STRADDLE]); // would run past the trigger
        assertEquals(0, mask(m)[SPACE_TRIGGER]);
        m.accept(SPACE_TRIGGER);
        float[] after = mask(m);
        assertEquals(0, after['[']);
        assertEquals(Float.NEGATIVE_INFINITY, after['x']);
        for (char c : "[1,2]".toCharArray()) {
            assertFalse(m.finished());
            m.accept(c);
        }
        assertTrue(m.finished());
    }

    @Test
    void textThatLeavesTheTriggerIsFree() {
        TokenConstraint.Matcher m = CALLS.start();
        m.accept(' ');
        m.accept('<');
        m.accept('x'); // "<x": not the trigger
        float[] free = mask(m);
        for (float f : free) {
            assertEquals(0, f);
        }
        m.accept(STRADDLE);
        assertFalse(m.complete());
        assertFalse(m.finished());
    }

    @Test
    void aSecondLeadingSpaceOrEosMeansText() {
        TokenConstraint.Matcher m = CALLS.start();
        m.accept(' ');
        m.accept(' ');
        assertEquals(0, mask(m)[STRADDLE]);
        TokenConstraint.Matcher e = CALLS.start();
        e.accept(EOS);
        assertFalse(e.finished());
        assertThrows(IllegalArgumentException.class, () -> new TriggeredConstraint(INDEX, " <t>", CALLS));
    }
}
