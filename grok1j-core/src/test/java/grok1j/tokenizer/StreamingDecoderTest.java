package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StreamingDecoderTest {
    private static final SentencePieceTokenizer TOK = TokenizerFixtures.grok1();
    private static final int BYTE_BASE = 69; // <0x00>

    @Test
    void emojiSplitAcrossBytePiecesIsEmittedWhole() {
        int[] ids = TOK.encode("emoji 😀!");
        StreamingDecoder decoder = TOK.streamingDecoder();
        List<String> chunks = new ArrayList<>();
        for (int id : ids) {
            chunks.add(decoder.push(id));
        }
        chunks.add(decoder.flush());
        // emoji, "▁", then F0 9F 98 80 as four byte pieces, then "!".
        assertEquals(List.of("emoji", " ", "", "", "", "😀", "!", ""), chunks);
    }

    @Test
    void heldBackBytesAreReportedAndFlushedAsReplacementCharacters() {
        StreamingDecoder decoder = TOK.streamingDecoder();
        assertEquals("", decoder.push(BYTE_BASE + 0xE4)); // first byte of 你 (E4 BD A0)
        assertTrue(decoder.hasPendingBytes());
        assertEquals("", decoder.push(BYTE_BASE + 0xBD));
        assertEquals("\uFFFD\uFFFD", decoder.flush(), "an unfinished character ends as one U+FFFD per byte");
        assertFalse(decoder.hasPendingBytes());
        assertEquals("", decoder.flush());
    }

    @Test
    void bytesThatCannotStartACharacterAreEmittedAtOnce() {
        StreamingDecoder decoder = TOK.streamingDecoder();
        assertEquals("\uFFFD", decoder.push(BYTE_BASE + 0x80), "a lone continuation byte");
        assertEquals("\uFFFD", decoder.push(BYTE_BASE + 0xC0), "C0 is always overlong");
        assertEquals("", decoder.push(BYTE_BASE + 0xE0));
        assertEquals("\uFFFD\uFFFD", decoder.push(BYTE_BASE + 0x80), "E0 80 is overlong whatever follows");
        assertEquals("", decoder.push(BYTE_BASE + 0xF0));
        assertEquals("\uFFFDA", decoder.push(BYTE_BASE + 'A'));
    }

    @Test
    void textPieceEndsAByteRun() {
        StreamingDecoder decoder = TOK.streamingDecoder();
        assertEquals("", decoder.push(BYTE_BASE + 0xF0));
        assertEquals("\uFFFD the", decoder.push(333), "the cut character, then the piece with its space");
    }

    @Test
    void leadingSpaceRule() {
        int the = 333; // "▁the"
        assertEquals("the the", streamAll(TOK.streamingDecoder(), the, the));
        assertEquals(" the the", streamAll(TOK.streamingDecoder(false), the, the));
        StreamingDecoder decoder = TOK.streamingDecoder();
        assertEquals("", decoder.push(TOK.bosId()), "control pieces are invisible and keep the rule pending");
        assertEquals("the", decoder.push(the));
        assertEquals(" the", decoder.push(the));
    }

    @Test
    void invalidIdLeavesStateUnchanged() {
        StreamingDecoder decoder = TOK.streamingDecoder();
        assertEquals("", decoder.push(BYTE_BASE + 0xC3));
        assertThrows(IllegalArgumentException.class, () -> decoder.push(TOK.vocabSize()));
        assertEquals("é", decoder.push(BYTE_BASE + 0xA9));
    }

    /** No chunk of any fixture text ever contains half of a surrogate pair. */
    @Test
    void chunksAreAlwaysWholeCharacters() {
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases()) {
            StreamingDecoder decoder = TOK.streamingDecoder();
            for (int id : c.ids()) {
                assertWholeCharacters(decoder.push(id), c);
            }
            assertWholeCharacters(decoder.flush(), c);
        }
    }

    /**
     * Random mixes of byte pieces (biased to UTF-8 lead and continuation bytes) and text pieces: the streamed text
     * equals an independent decoder built on Java's strict UTF-8 decoder with SentencePiece's one-U+FFFD-per-byte
     * rule, and equals {@link Tokenizer#decode(int[])}.
     */
    @Test
    void randomByteSequencesMatchReference() {
        Random random = new Random(7);
        int[] interesting = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
            0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF};
        for (int trial = 0; trial < 20_000; trial++) {
            int n = 1 + random.nextInt(12);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                int r = random.nextInt(10);
                if (r == 0) {
                    ids[i] = 333; // "▁the"
                } else if (r == 1) {
                    ids[i] = TOK.bosId();
                } else {
                    int b = r < 6 ? interesting[random.nextInt(interesting.length)] : random.nextInt(256);
                    ids[i] = BYTE_BASE + b;
                }
            }
            String expected = referenceDecode(ids);
            assertEquals(expected, TOK.decode(ids), () -> "ids " + java.util.Arrays.toString(ids));
            assertEquals(expected, streamAll(TOK.streamingDecoder(), ids),
                    () -> "ids " + java.util.Arrays.toString(ids));
        }
    }

    private static String streamAll(StreamingDecoder decoder, int... ids) {
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            sb.append(decoder.push(id));
        }
        return sb.append(decoder.flush()).toString();
    }

    private static void assertWholeCharacters(String chunk, Object context) {
        for (int i = 0; i < chunk.length(); i++) {
            char ch = chunk.charAt(i);
            if (Character.isHighSurrogate(ch)) {
                assertTrue(i + 1 < chunk.length() && Character.isLowSurrogate(chunk.charAt(i + 1)),
                        () -> "half a surrogate pair in " + context);
                i++;
            } else {
                assertFalse(Character.isLowSurrogate(ch), () -> "half a surrogate pair in " + context);
            }
        }
    }

    /** Independent of Utf8: a byte run is split into the longest strictly decodable characters, else U+FFFD. */
    private static String referenceDecode(int[] ids) {
        StringBuilder out = new StringBuilder();
        List<Integer> run = new ArrayList<>();
        boolean first = true;
        for (int id : ids) {
            if (TOK.type(id) == PieceType.BYTE) {
                run.add(id - BYTE_BASE);
                continue;
            }
            decodeRun(run, out);
            run.clear();
            if (id == 333) {
                out.append(first && out.isEmpty() ? "the" : " the");
                first = false;
            }
        }
        decodeRun(run, out);
        return out.toString();
    }

    private static void decodeRun(List<Integer> run, StringBuilder out) {
        int pos = 0;
        while (pos < run.size()) {
            String ch = null;
            int used = 1;
            for (int k = 1; k <= 4 && pos + k <= run.size() && ch == null; k++) {
                byte[] bytes = new byte[k];
                for (int i = 0; i < k; i++) {
                    bytes[i] = (byte) (int) run.get(pos + i);
                }
                ch = strictDecode(bytes);
                used = k;
            }
            out.append(ch != null ? ch : "\uFFFD");
            pos += ch != null ? used : 1;
        }
    }

    private static String strictDecode(byte[] bytes) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            String s = decoder.decode(ByteBuffer.wrap(bytes)).toString();
            return s.codePointCount(0, s.length()) == 1 ? s : null;
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
