package grok1j.generate;

import grok1j.tokenizer.StreamingDecoder;
import grok1j.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;

/**
 * Turns generated ids into the continuation text and decides how much of it is safe to stream.
 *
 * <p>The text is decode(prompt + generated) minus decode(prompt), so the first token's leading space survives
 * (decoding the generated ids alone would drop it, spec §7.3). One {@link StreamingDecoder} runs over the prompt and
 * then the generated ids, so each token costs the length of its piece, not of the whole sequence. The decoder holds
 * back an incomplete UTF-8 sequence of byte pieces; this class also holds back text whose end could be the start of
 * a stop string. (If the prompt itself ends inside a UTF-8 character, the continuation starts with that character.)
 */
final class TextAssembler {
    private final StreamingDecoder decoder;
    private final StringBuilder text = new StringBuilder();
    private final List<String> stops;
    private final int longestStop;
    private int[] ids = new int[16];
    private int count;
    private int emitted;
    private String stoppedText;
    private boolean flushed;

    TextAssembler(Tokenizer tokenizer, int[] promptIds, List<String> stops) {
        this.decoder = tokenizer.streamingDecoder();
        for (int id : promptIds) {
            decoder.push(id); // the prompt's own text is not part of the continuation
        }
        this.stops = stops;
        this.longestStop = stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /** Adds a generated id; returns the newly safe text (possibly empty). After a stop string, see {@link #stopped()}. */
    String add(int id) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = id;
        text.append(decoder.push(id));
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
            safeEnd = text.length() - heldForStop();
        }
        if (safeEnd <= emitted) {
            return "";
        }
        String delta = text.substring(emitted, safeEnd);
        emitted = safeEnd;
        return delta;
    }

    /** Records a generated id that adds no text (the token that ends generation); returns "". */
    String addSilent(int id) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = id;
        return "";
    }

    /** True once a stop string has appeared. */
    boolean stopped() {
        return stoppedText != null;
    }

    /** The final text: everything generated (held-back bytes as U+FFFD), cut before a stop string. */
    String finalText() {
        if (stoppedText != null) {
            return stoppedText;
        }
        if (!flushed) {
            text.append(decoder.flush());
            flushed = true;
        }
        return text.toString();
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

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int heldForStop() {
        int best = 0;
        int n = text.length();
        for (String s : stops) {
            for (int len = Math.min(s.length() - 1, n); len > best; len--) {
                if (text.substring(n - len).equals(s.substring(0, len))) {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }
}
