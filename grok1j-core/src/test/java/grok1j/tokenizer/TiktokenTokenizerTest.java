package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Grok-2's tiktoken tokenizer against the shared tiktoken fixtures (grok-2 spec §4, §8.2). */
class TiktokenTokenizerTest {
    static Path grok2TinyFile() {
        return TokenizerFixtures.sharedDir().resolve("fixtures/grok-2-tiny/tokenizer.tok.json");
    }

    static Path cl100kFile() {
        return TokenizerFixtures.sharedDir().resolve("fixtures/tokenizer/cl100k-v1.tok.json");
    }

    private static final class Holder {
        static final TiktokenTokenizer TINY = load(grok2TinyFile());
        static final TiktokenTokenizer CL100K = load(cl100kFile());

        private static TiktokenTokenizer load(Path file) {
            try {
                return TiktokenTokenizer.load(file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    @Test
    void grok2TinyCasesGiveTiktokensIds() {
        checkCases(Holder.TINY, "grok-2-tiny.jsonl", 359);
    }

    @Test
    void cl100kV1CasesGiveTiktokensIds() {
        checkCases(Holder.CL100K, "cl100k-v1.jsonl", 389);
    }

    private static void checkCases(TiktokenTokenizer tok, String file, int expectedCount) {
        List<TokenizerFixtures.Case> cases = TokenizerFixtures.readCases(file);
        assertEquals(expectedCount, cases.size());
        List<String> failures = new ArrayList<>();
        for (TokenizerFixtures.Case c : cases) {
            int[] ids = tok.encode(c.text());
            if (!java.util.Arrays.equals(c.ids(), ids)) {
                failures.add(c + ": expected " + java.util.Arrays.toString(c.ids()) + " got "
                        + java.util.Arrays.toString(ids));
            } else if (!c.text().equals(tok.decode(ids))) {
                failures.add(c + ": decode(encode(text)) differs");
            } else if (!c.text().equals(streamed(tok, ids))) {
                failures.add(c + ": streamed decode differs");
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " cases fail, first: "
                + failures.stream().limit(3).toList());
    }

    private static String streamed(Tokenizer tok, int[] ids) {
        StreamingDecoder d = tok.streamingDecoder();
        StringBuilder b = new StringBuilder();
        for (int id : ids) {
            String s = d.push(id);
            assertFalse(!s.isEmpty() && Character.isHighSurrogate(s.charAt(s.length() - 1)), "half a character");
            b.append(s);
        }
        return b.append(d.flush()).toString();
    }

    @Test
    void specialsAndIdsAreLookedUpByText() {
        TiktokenTokenizer tok = Holder.TINY;
        assertEquals(512, tok.vocabSize());
        assertEquals(2, tok.eosId());
        assertEquals(0, tok.padId());
        assertEquals(1, tok.specialId("<|separator|>"));
        assertEquals(-1, tok.bosId());
        assertEquals(PieceType.CONTROL, tok.type(2));
        assertEquals("<|eos|>", tok.piece(2));
        assertEquals(2, tok.pieceId("<|eos|>"));
        assertArrayEquals(new int[] {2}, tok.encode("<|eos|>"));
        assertEquals("<|eos|>", tok.decode(new int[] {2}));
        assertEquals(100258, Holder.CL100K.eosId());
        assertEquals(100257, Holder.CL100K.specialId("<|separator|>"));
    }

    @Test
    void nonUtf8TokensAreBytePieces() {
        TiktokenTokenizer tok = Holder.TINY;
        int id = tok.encode("\u00e9")[0]; // é = C3 A9; the first part is a lone lead byte unless merged
        int lone = -1;
        for (int i = 0; i < tok.vocabSize(); i++) {
            if (tok.byteValue(i) == 0xC3) {
                lone = i;
            }
        }
        assertTrue(lone >= 0);
        assertEquals(PieceType.BYTE, tok.type(lone));
        assertEquals("<0xC3>", tok.piece(lone));
        assertArrayEquals(new byte[] {(byte) 0xC3}, tok.tokenBytes(lone));
        assertTrue(id >= 0);
    }

    /**
     * A token of several bytes that is not UTF-8 on its own (grok-2-tiny's 358: E8 AF 8D E5, a whole character and a
     * lead byte) is shown as {@code <0xXX>} text, and {@link TiktokenTokenizer#rawBytes} gives its bytes (what the
     * server's logprobs report as {@code bytes}); tokens whose text is exact have none.
     */
    @Test
    void multiByteNonUtf8TokensKeepTheirRawBytes() {
        TiktokenTokenizer tok = Holder.TINY;
        assertEquals(PieceType.BYTE, tok.type(358));
        assertEquals("<0xE8><0xAF><0x8D><0xE5>", tok.piece(358));
        assertArrayEquals(new byte[] {(byte) 0xE8, (byte) 0xAF, (byte) 0x8D, (byte) 0xE5}, tok.rawBytes(358));
        int lone = -1;
        for (int i = 0; i < tok.vocabSize() && lone < 0; i++) {
            lone = tok.byteValue(i) >= 0 ? i : -1;
        }
        assertNull(tok.rawBytes(lone), "a single byte is byteValue's");
        assertNull(tok.rawBytes(tok.encode("hello")[0]));
        assertNull(tok.rawBytes(2), "a special token");
    }

    @Test
    void streamingHoldsBackHalfCharactersAndFlushesReplacement() {
        TiktokenTokenizer tok = Holder.TINY;
        int[] bytes = new int[4];
        byte[] smile = "\uD83D\uDE00".getBytes(StandardCharsets.UTF_8); // F0 9F 98 80
        for (int k = 0; k < 4; k++) {
            for (int i = 0; i < tok.vocabSize(); i++) {
                byte[] b = tok.isSpecial(i) ? null : tok.tokenBytes(i);
                if (b != null && b.length == 1 && b[0] == smile[k]) {
                    bytes[k] = i;
                }
            }
        }
        StreamingDecoder d = tok.streamingDecoder();
        assertEquals("", d.push(bytes[0]));
        assertEquals("", d.push(bytes[1]));
        assertEquals("", d.push(bytes[2]));
        assertTrue(d.hasPendingBytes());
        assertEquals("\uD83D\uDE00", d.push(bytes[3]));
        assertFalse(d.hasPendingBytes());
        // A cut character: held back, then one U+FFFD at the end, as decode gives it.
        assertEquals("", d.push(bytes[0]));
        assertEquals("", d.push(bytes[1]));
        assertEquals("\uFFFD", d.flush());
        assertEquals("\uFFFD", tok.decode(new int[] {bytes[0], bytes[1]}));
        // A byte that can never complete is replaced at once; the lead byte after it is held.
        int a = tok.encode("a")[0];
        assertEquals("\uFFFDa", d.push(bytes[3]) + d.push(a));
        assertEquals("", d.push(bytes[0]));
        assertEquals("\uFFFDa", d.push(a));
    }

    @Test
    void millionSpacesEncodeInLinearishTime() {
        // Correctness of the merge loop's complexity (O(n log n); tiktoken's own loop is O(n^2), which would take
        // hours here): a generous bound on this thread's CPU time, so that other processes on a shared machine
        // cannot make it fail.
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        String spaces = " ".repeat(1_000_000);
        for (TiktokenTokenizer tok : List.of(Holder.TINY, Holder.CL100K)) {
            for (int i = 0; i < 20; i++) {
                tok.encode(" ".repeat(20_000)); // compile the split and the merge loop first: complexity, not JIT
            }
            long start = threads.getCurrentThreadCpuTime();
            int[] ids = tok.encode(spaces);
            long millis = (threads.getCurrentThreadCpuTime() - start) / 1_000_000;
            assertTrue(millis < 2000, "1,000,000 spaces took " + millis + " ms of CPU time");
            assertEquals(spaces, tok.decode(ids));
        }
    }

    @Test
    void loadDispatchesOnContent() throws IOException {
        assertInstanceOf(TiktokenTokenizer.class, Tokenizer.load(grok2TinyFile()));
        assertInstanceOf(SentencePieceTokenizer.class, Tokenizer.load(TokenizerFixtures.tokenizerModel()));
    }
}
