package grok1j.generate;

import grok1j.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;

/**
 * Turns generated ids into the continuation text and decides how much of it is safe to stream.
 *
 * <p>The text is decode(prompt + generated) minus decode(prompt), so the first token's leading space survives
 * (decoding the generated ids alone would drop it, spec §7.3). Text is held back while the generated ids end in an
 * incomplete UTF-8 sequence of byte pieces, and while its end could be the start of a stop string.
 */
final class TextAssembler {
    private final Tokenizer tokenizer;
    private final int[] promptIds;
    private final String promptText;
    private final List<String> stops;
    private final int longestStop;
    private int[] ids = new int[16];
    private int count;
    private int emitted;
    private String stoppedText;

    TextAssembler(Tokenizer tokenizer, int[] promptIds, List<String> stops) {
        this.tokenizer = tokenizer;
        this.promptIds = promptIds;
        this.promptText = tokenizer.decode(promptIds);
        this.stops = stops;
        this.longestStop = stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /** Adds a generated id; returns the newly safe text (possibly empty). After a stop string, see {@link #stopped()}. */
    String add(int id) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = id;
        String text = textOf(completeCount());
        int safeEnd = text.length();
        if (!stops.isEmpty()) {
            int from = Math.max(0, emitted - longestStop + 1);
            int hit = -1;
            for (String s : stops) {
                int at = text.indexOf(s, from);
                if (at >= 0 && (hit < 0 || at < hit)) {
                    hit = at;
                }
            }
            if (hit >= 0) {
                stoppedText = text.substring(0, hit);
                String delta = hit > emitted ? stoppedText.substring(emitted) : "";
                emitted = Math.max(emitted, hit);
                return delta;
            }
            safeEnd = text.length() - heldForStop(text);
        }
        if (safeEnd <= emitted) {
            return "";
        }
        String delta = text.substring(emitted, safeEnd);
        emitted = safeEnd;
        return delta;
    }

    /** True once a stop string has appeared. */
    boolean stopped() {
        return stoppedText != null;
    }

    /** The final text: everything generated, cut before a stop string. */
    String finalText() {
        return stoppedText != null ? stoppedText : textOf(count);
    }

    /** Text not yet streamed (the held-back tail), to flush when generation ends. */
    String remainder() {
        String all = finalText();
        String r = all.length() > emitted ? all.substring(emitted) : "";
        emitted = all.length();
        return r;
    }

    int[] ids() {
        return Arrays.copyOf(ids, count);
    }

    /** Continuation text of the first {@code n} generated ids. */
    private String textOf(int n) {
        int[] all = Arrays.copyOf(promptIds, promptIds.length + n);
        System.arraycopy(ids, 0, all, promptIds.length, n);
        String full = tokenizer.decode(all);
        if (full.startsWith(promptText)) {
            return full.substring(promptText.length());
        }
        // the prompt ended inside a UTF-8 character that the continuation completed: keep what differs
        int common = 0;
        while (common < full.length() && common < promptText.length() && full.charAt(common) == promptText.charAt(common)) {
            common++;
        }
        return full.substring(common);
    }

    /** Generated ids up to (not including) a trailing incomplete UTF-8 sequence of byte pieces. */
    private int completeCount() {
        int i = count;
        while (i > 0 && tokenizer.byteValue(ids[i - 1]) >= 0) {
            i--;
        }
        // ids[i, count) are byte pieces; find the last lead byte and whether its sequence is complete
        for (int j = count - 1; j >= i; j--) {
            int b = tokenizer.byteValue(ids[j]);
            if ((b & 0xC0) == 0x80) {
                continue; // continuation byte
            }
            int need = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 1;
            return count - j < need && need > 1 ? j : count;
        }
        return count;
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of some stop string. */
    private int heldForStop(String text) {
        int best = 0;
        for (String s : stops) {
            for (int len = Math.min(s.length() - 1, text.length()); len > best; len--) {
                if (text.regionMatches(text.length() - len, s, 0, len)) {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }
}
