package grok1j.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The {@link StreamingDecoder} of {@link TiktokenTokenizer} (grok-2 spec §4.3). After each token it emits the longest
 * prefix of its byte buffer that cannot change with more bytes, and holds back an incomplete tail: at most 3 bytes
 * that form a proper prefix of a well-formed character. Everything emitted is decoded with the JDK's UTF-8 decoder
 * (one U+FFFD per maximal invalid subsequence), so the concatenated output equals
 * {@link TiktokenTokenizer#decode(int[])}: a maximal invalid subsequence is made of a lead byte and continuation
 * bytes, so it never spans the held-back tail, which starts with a lead byte.
 */
final class TiktokenDecoder implements StreamingDecoder {
    private final TiktokenTokenizer tokenizer;
    private byte[] buffer = new byte[64];
    private int length; // bytes in buffer: the held-back tail, then the new token's bytes

    TiktokenDecoder(TiktokenTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    @Override
    public String push(int id) {
        byte[] b = tokenizer.bytes(id);
        if (length + b.length > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, length + b.length));
        }
        System.arraycopy(b, 0, buffer, length, b.length);
        length += b.length;
        int cut = incompleteTail();
        String text = new String(buffer, 0, cut, StandardCharsets.UTF_8);
        System.arraycopy(buffer, cut, buffer, 0, length - cut);
        length -= cut;
        return text;
    }

    /** @return the start of the earliest suffix (of at most 3 bytes) that is a proper prefix of a character */
    private int incompleteTail() {
        for (int p = Math.max(0, length - 3); p < length; p++) {
            if (Utf8.classify(buffer, p, length) == Utf8.INCOMPLETE) {
                return p;
            }
        }
        return length;
    }

    @Override
    public String flush() {
        String text = new String(buffer, 0, length, StandardCharsets.UTF_8);
        length = 0;
        return text;
    }

    @Override
    public boolean hasPendingBytes() {
        return length > 0;
    }
}
