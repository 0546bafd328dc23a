package grok1j.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.tokenizer.Tokenizer;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Streaming text: the leading space, never half a UTF-8 character, never part of a stop string. */
class TextAssemblerTest {
    static Tokenizer tok;

    @BeforeAll
    static void load() throws Exception {
        tok = Tokenizer.load(TestFiles.tokenizerModel());
    }

    static String feed(TextAssembler a, int[] ids, StringBuilder streamed) {
        for (int id : ids) {
            String d = a.add(id);
            streamed.append(d);
            if (a.stopped()) {
                break;
            }
        }
        streamed.append(a.remainder());
        return a.finalText();
    }

    @Test
    void continuationKeepsItsLeadingSpace() {
        int[] prompt = tok.encode("Hello");
        TextAssembler a = new TextAssembler(tok, prompt, List.of());
        StringBuilder s = new StringBuilder();
        assertEquals(" world", feed(a, tok.encode("world"), s)); // "▁world": the dummy-prefix piece
        assertEquals(" world", s.toString());
    }

    @Test
    void multiByteCharacterSplitAcrossBytePiecesIsNeverEmittedHalf() {
        int[] prompt = tok.encode("emoji");
        int[] ids = tok.encode("😀 ok"); // 😀 is not in the vocabulary: four byte pieces
        TextAssembler a = new TextAssembler(tok, prompt, List.of());
        StringBuilder streamed = new StringBuilder();
        int bytePieces = 0;
        for (int id : ids) {
            String d = a.add(id);
            if (tok.byteValue(id) >= 0) {
                bytePieces++;
            }
            assertFalse(d.contains("\uFFFD"), "half a character streamed: " + d);
            assertFalse(!d.isEmpty() && Character.isHighSurrogate(d.charAt(d.length() - 1)), "lone surrogate");
            streamed.append(d);
        }
        streamed.append(a.remainder());
        assertEquals(4, bytePieces);
        assertEquals(" 😀 ok", streamed.toString());
        assertEquals(" 😀 ok", a.finalText());
    }

    @Test
    void invalidBytesStillComeOutAsReplacementCharacters() {
        int[] prompt = tok.encode("x");
        int b0 = tok.pieceId("<0xF0>");
        int b1 = tok.pieceId("<0x9F>");
        int a0 = tok.encode("a")[0];
        TextAssembler a = new TextAssembler(tok, prompt, List.of());
        StringBuilder s = new StringBuilder();
        // a 4-byte lead and one continuation byte, then an ordinary piece: the broken sequence decodes to U+FFFDs
        assertEquals(tok.decode(new int[] {tok.encode("x")[0], b0, b1, a0}).substring(1), feed(a, new int[] {b0, b1, a0}, s));
        assertTrue(s.toString().contains("\uFFFD"));
    }

    @Test
    void stopStringIsNeverPartlyEmitted() {
        int[] prompt = tok.encode("Count:");
        int[] ids = tok.encode("one two three four");
        TextAssembler a = new TextAssembler(tok, prompt, List.of("three"));
        StringBuilder streamed = new StringBuilder();
        for (int id : ids) {
            String d = a.add(id);
            streamed.append(d);
            assertFalse(streamed.toString().contains("th") && !streamed.toString().contains("three") && streamed.toString().endsWith("th"),
                    "a prefix of the stop string was streamed: " + streamed);
            if (a.stopped()) {
                break;
            }
        }
        streamed.append(a.remainder());
        assertTrue(a.stopped());
        assertEquals(" one two ", a.finalText());
        assertEquals(" one two ", streamed.toString());
    }

    @Test
    void heldBackPrefixIsReleasedWhenItTurnsOutNotToBeAStop() {
        int[] prompt = tok.encode("Say");
        TextAssembler a = new TextAssembler(tok, prompt, List.of(" ab!"));
        StringBuilder s = new StringBuilder();
        String text = feed(a, tok.encode("ab ac"), s);
        assertFalse(a.stopped());
        assertEquals(" ab ac", text);
        assertEquals(" ab ac", s.toString());
    }
}
