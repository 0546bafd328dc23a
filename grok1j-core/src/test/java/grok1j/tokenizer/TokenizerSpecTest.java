package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The facts and test vectors of spec §7.1-7.3 against the real Grok-1 tokenizer. */
class TokenizerSpecTest {
    private static final SentencePieceTokenizer TOK = TokenizerFixtures.grok1();

    @Test
    void modelFacts() { // §7.1
        SentencePieceModel model = TOK.model();
        assertEquals(131072, TOK.vocabSize());
        assertEquals(SentencePieceModel.BPE, model.trainer().modelType());
        assertTrue(model.trainer().byteFallback());
        assertEquals("[UNK]", model.trainer().unkSurface());
        assertEquals(3, model.trainer().unkId());
        assertEquals(1, model.trainer().bosId());
        assertEquals(2, model.trainer().eosId());
        assertEquals(0, model.trainer().padId());
        assertEquals("identity", model.normalizer().name());
        assertEquals(0, model.normalizer().precompiledCharsmapBytes());
        assertTrue(model.normalizer().addDummyPrefix());
        assertFalse(model.normalizer().removeExtraWhitespaces());
        assertTrue(model.normalizer().escapeWhitespaces());

        assertEquals(3, TOK.unkId());
        assertEquals(1, TOK.bosId());
        assertEquals(2, TOK.eosId());
        assertEquals(0, TOK.padId());

        Map<PieceType, Integer> counts = new EnumMap<>(PieceType.class);
        for (int id = 0; id < TOK.vocabSize(); id++) {
            counts.merge(TOK.type(id), 1, Integer::sum);
        }
        assertEquals(Map.of(PieceType.NORMAL, 130747, PieceType.BYTE, 256, PieceType.USER_DEFINED, 65,
                PieceType.CONTROL, 3, PieceType.UNKNOWN, 1), counts);

        assertEquals("[PAD]", TOK.piece(0));
        assertEquals("[UNK]", TOK.piece(3));
        assertEquals("\n", TOK.piece(4));
        assertEquals("0", TOK.piece(14));
        assertEquals("<|separator|>", TOK.piece(47));
        assertEquals("<0x00>", TOK.piece(69));
        assertEquals("<0xFF>", TOK.piece(324));
        assertEquals(PieceType.BYTE, TOK.type(69 + 0xAB));
        assertEquals("\u2581\u2581", TOK.piece(325));
        assertEquals("\u2581", TOK.piece(130089));
        assertEquals("曲", TOK.piece(131071));
        for (int id : new int[] {325, 1000, 130089, 131071}) {
            assertEquals(325 - id, model.score(id), 0f, "score of " + id); // 325 is stored as -0.0
        }
        assertEquals(130089, TOK.pieceId("\u2581"));
        assertEquals(-1, TOK.pieceId("no such piece"));
    }

    @Test
    void encodeVectors() { // §7.2
        assertEncodes("The answer to life the universe and everything is of course",
                422, 3033, 356, 1180, 333, 9072, 360, 2175, 391, 359, 1805);
        assertEncodes("Hello world", 11770, 1135);
        assertEncodes("hello   world", 21560, 325, 1135);
        assertEncodes("a  b", 327, 325, 130110);
        assertEncodes("   ", 336);
        assertEncodes(" leading space", 325, 15354, 2150);
        assertEncodes("trailing ", 25601, 130089);
        assertEncodes("x\n\ny", 1734, 5, 130107);
        assertEncodes("line1\nline2", 1585, 15, 4, 1075, 16);
        assertEncodes("12345", 130089, 15, 16, 17, 18, 19);
        assertEncodes("3.14", 130089, 17, 130109, 15, 18);
        assertEncodes("\t\tindent", 130089, 25, 15917);
        assertEncodes("<|separator|>", 130089, 47);
        assertEncodes("ab<|mask|>cd", 534, 48, 3800);
        assertEncodes("[BOS]", 794, 130131, 2917, 130165);
        assertEncodes("emoji 😀", 44785, 130089, 309, 228, 221, 197);
        assertEncodes("\uFF46", 130089, 308, 258, 203);
        assertEncodes("");
    }

    @Test
    void decodeVectors() { // §7.3
        assertEquals("the world", TOK.decode(new int[] {333, 1135}));
        assertEquals("the", TOK.decode(new int[] {1, 333}));
        assertEquals("  the", TOK.decode(new int[] {325, 333}));
        assertEquals("\n the", TOK.decode(new int[] {4, 333}));
        assertEquals("", TOK.decode(new int[] {130089}));
        assertEquals("\uFFFD", TOK.decode(new int[] {309}));
        assertEquals("", TOK.decode(new int[0]));
    }

    @Test
    void decodeSpecialPieces() {
        assertEquals("[UNK]", TOK.decode(new int[] {3}), "unknown piece decodes to unk_surface");
        assertEquals("a[UNK]", TOK.decode(new int[] {327, 3}));
        assertEquals("", TOK.decode(new int[] {0, 1, 2}), "control pieces are invisible");
        assertEquals("<|separator|>", TOK.decode(new int[] {47}), "user-defined pieces are literal");
        assertEquals("😀", TOK.decode(new int[] {309, 228, 221, 197}));
        // Only the first text piece loses its "▁", also after a piece that was only "▁".
        assertEquals(" the", TOK.decode(new int[] {130089, 333}));
        assertEquals(" the", TOK.decode(new int[] {1, 130089, 2, 333}));
        // Byte text first: the next piece keeps its space.
        assertEquals("A the", TOK.decode(new int[] {69 + 'A', 333}));
        // A decoded byte sequence is text, not a space symbol: bytes of "▁" stay "▁".
        assertEquals("\u2581", TOK.decode(new int[] {69 + 0xE2, 69 + 0x96, 69 + 0x81}));
    }

    @Test
    void invalidBytesBecomeOneReplacementEach() {
        // F0 9F 98 is an emoji cut short: SentencePiece gives one U+FFFD per byte (Java's decoder would give one).
        assertEquals("\uFFFD\uFFFD\uFFFD", TOK.decode(new int[] {69 + 0xF0, 69 + 0x9F, 69 + 0x98}));
        // ... and the same when a text piece interrupts the sequence.
        assertEquals("\uFFFD\uFFFD the", TOK.decode(new int[] {69 + 0xE2, 69 + 0x96, 333}));
        // Overlong, surrogate and out-of-range forms are invalid byte by byte; a valid character after them is kept.
        assertEquals("\uFFFD\uFFFDA", TOK.decode(new int[] {69 + 0xC0, 69 + 0x80, 69 + 'A'}));
        assertEquals("\uFFFD\uFFFD\uFFFD", TOK.decode(new int[] {69 + 0xED, 69 + 0xA0, 69 + 0x80}));
        assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD",
                TOK.decode(new int[] {69 + 0xF4, 69 + 0x90, 69 + 0x80, 69 + 0x80}));
        assertEquals("\uFFFD€", TOK.decode(new int[] {69 + 0xE2, 69 + 0xE2, 69 + 0x82, 69 + 0xAC}));
    }

    @Test
    void decodeRange() {
        int[] ids = TOK.encode("Hello world");
        assertEquals("world", TOK.decode(ids, 1, 2), "a range decodes as a sequence of its own");
        assertEquals("", TOK.decode(ids, 1, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> TOK.decode(ids, 1, 3));
    }

    @Test
    void badIdsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TOK.decode(new int[] {1, 131072}));
        assertTrue(e.getMessage().contains("131072"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TOK.decode(new int[] {-1}));
        assertThrows(IndexOutOfBoundsException.class, () -> TOK.piece(131072));
    }

    @Test
    void loneSurrogateEncodesAsReplacementCharacter() {
        assertArrayEquals(TOK.encode("a\uFFFDb"), TOK.encode("a\uD800b"));
        assertArrayEquals(TOK.encode("\uFFFD"), TOK.encode("\uDC00"));
        assertArrayEquals(TOK.encode("x\uFFFD"), TOK.encode("x\uD83D"));
    }

    /**
     * SentencePiece encodes a byte string by replacing every byte that does not begin a well-formed character with its
     * own U+FFFD (normalizer.cc: an invalid prefix consumes one byte), so a cut character or a run of stray bytes gives
     * as many U+FFFD as it has bytes; Java's decoder would merge each maximal subpart
     * into one U+FFFD and the ids would differ.
     */
    @Test
    void invalidUtf8BytesEncodeOneReplacementCharacterPerByte() {
        String fffd = "\uFFFD";
        byte[] cut = {'a', (byte) 0xE2, (byte) 0x82, 'b'};            // the first two bytes of "€", then b
        assertArrayEquals(TOK.encode("a" + fffd + fffd + "b"), TOK.encode(cut));
        assertFalse(java.util.Arrays.equals(TOK.encode(new String(cut, java.nio.charset.StandardCharsets.UTF_8)),
                TOK.encode(cut)), "Java's decoder makes one U+FFFD of E2 82");
        byte[] emoji = {(byte) 0xF0, (byte) 0x9F, (byte) 0x98};        // a cut emoji: three replacement characters
        assertArrayEquals(TOK.encode(fffd.repeat(3)), TOK.encode(emoji));
        byte[] stray = {'x', (byte) 0x80, (byte) 0xC0, (byte) 0xAF, (byte) 0xED, (byte) 0xA0, (byte) 0x80, 'y'};
        assertArrayEquals(TOK.encode("x" + fffd.repeat(6) + "y"), TOK.encode(stray), "continuation, overlong, surrogate");
        // two stray bytes are two U+FFFD: "▁" then the piece "\uFFFD\uFFFD" (12857), as "\uFFFD\uFFFD" encodes
        assertArrayEquals(new int[] {130089, 12857}, TOK.encode(new byte[] {(byte) 0xFF, (byte) 0xFE}));
        byte[] valid = "h\u00e9llo \uD83D\uDE00".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        assertArrayEquals(TOK.encode("h\u00e9llo \uD83D\uDE00"), TOK.encode(valid));
        assertArrayEquals(new int[0], TOK.encode(new byte[0]));
    }

    private static void assertEncodes(String text, int... expected) {
        assertArrayEquals(expected, TOK.encode(text), () -> "encode " + TokenizerFixtureTest.quote(text));
    }
}
