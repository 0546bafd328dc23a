package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Every case of {@code fixtures/tokenizer/grok-1.jsonl} (ids from SentencePiece 0.1.97). */
class TokenizerFixtureTest {
    private static final Tokenizer TOKENIZER = TokenizerFixtures.grok1();
    private static final List<TokenizerFixtures.Case> CASES = TokenizerFixtures.cases();

    @Test
    void fixtureHasAllCases() {
        assertEquals(488, CASES.size());
    }

    @TestFactory
    Stream<DynamicTest> encodeGivesSentencePieceIds() {
        return CASES.stream().map(c -> DynamicTest.dynamicTest("encode " + c, () ->
                assertArrayEquals(c.ids(), TOKENIZER.encode(c.text()), () -> "text " + quote(c.text()))));
    }

    /**
     * decode(encode(text)) == text, except for text containing "▁" (U+2581), which encodes like a space and so
     * decodes to one. (The fixture has no lone surrogates.)
     */
    @TestFactory
    Stream<DynamicTest> decodeInvertsEncode() {
        return CASES.stream().filter(c -> c.text().indexOf('\u2581') < 0).map(c ->
                DynamicTest.dynamicTest("round trip " + c, () ->
                        assertEquals(c.text(), TOKENIZER.decode(c.ids()))));
    }

    /** Streaming the fixture ids one at a time gives the same text as decode(). */
    @TestFactory
    Stream<DynamicTest> streamingMatchesDecode() {
        return CASES.stream().map(c -> DynamicTest.dynamicTest("stream " + c, () -> {
            StreamingDecoder decoder = TOKENIZER.streamingDecoder();
            StringBuilder streamed = new StringBuilder();
            for (int id : c.ids()) {
                streamed.append(decoder.push(id));
            }
            streamed.append(decoder.flush());
            assertEquals(TOKENIZER.decode(c.ids()), streamed.toString());
        }));
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp < 0x20 || cp == 0x7F) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.appendCodePoint(cp);
            }
        });
        return sb.append('"').toString();
    }
}
