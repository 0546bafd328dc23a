package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Encode must scale as O(n log n): 100,000 characters in well under 20 s even on a busy 2-core machine (a quadratic
 * BPE takes minutes on such input). Prints the measured speeds.
 */
class TokenizerPerformanceTest {
    private static final int LENGTH = 100_000;
    private static final Duration LIMIT = Duration.ofSeconds(20);

    @Test
    void loadTime() throws Exception {
        long start = System.nanoTime();
        Tokenizer tokenizer = Tokenizer.load(TokenizerFixtures.tokenizerModel());
        double first = (System.nanoTime() - start) / 1e6;
        start = System.nanoTime();
        Tokenizer.load(TokenizerFixtures.tokenizerModel());
        double second = (System.nanoTime() - start) / 1e6;
        System.out.printf("tokenizer load: %.0f ms, again %.0f ms (JIT state depends on earlier tests)%n", first,
                second);
        assertEquals(131072, tokenizer.vocabSize());
    }

    @Test
    void proseFromFixtures() {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < LENGTH) {
            for (TokenizerFixtures.Case c : TokenizerFixtures.cases()) {
                sb.append(c.text()).append(' ');
            }
        }
        measure("fixture texts (prose en/zh, random, edge)", sb.substring(0, LENGTH));
    }

    @Test
    void oneLongWord() {
        // No spaces and a single repeated letter: many merge candidates with equal scores.
        measure("'a' x 100k", "a".repeat(LENGTH));
    }

    @Test
    void randomUnicode() {
        Random random = new Random(42);
        StringBuilder sb = new StringBuilder();
        String alphabet = "abcdefghij klmnopqrstuvwxyz.,;\n\t0123456789你好世界ЖΩé😀🤖ｆ\u00A0";
        int[] cps = alphabet.codePoints().toArray();
        while (sb.length() < LENGTH) {
            sb.appendCodePoint(cps[random.nextInt(cps.length)]);
        }
        measure("random characters", sb.toString());
    }

    private static void measure(String what, String text) {
        Tokenizer tokenizer = TokenizerFixtures.grok1();
        assertTimeoutPreemptively(LIMIT, () -> {
            long start = System.nanoTime();
            int[] ids = tokenizer.encode(text);
            double first = (System.nanoTime() - start) / 1e9;
            // A few more runs to report warmed-up speed, within the same time limit.
            double best = first;
            for (int i = 0; i < 3; i++) {
                start = System.nanoTime();
                tokenizer.encode(text);
                best = Math.min(best, (System.nanoTime() - start) / 1e9);
            }
            start = System.nanoTime();
            String decoded = tokenizer.decode(ids);
            double decodeSeconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("encode %s: %,d chars -> %,d ids; first %.3f s (%,.0f chars/s), best of 4 %.3f s "
                            + "(%,.0f chars/s); decode %.3f s%n", what, text.length(), ids.length, first,
                    text.length() / first, best, text.length() / best, decodeSeconds);
            assertTrue(ids.length > 0);
            if (text.indexOf('\u2581') < 0) {
                assertEquals(text, decoded);
            }
        });
    }
}
