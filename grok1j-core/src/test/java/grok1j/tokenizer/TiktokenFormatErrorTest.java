package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A damaged {@code tokenizer.tok.json} gives one line naming the file and the problem (grok-2 spec §4.1). */
class TiktokenFormatErrorTest {
    @TempDir
    Path dir;

    /** A valid file: 256 single bytes at ids 0..255, "ab" at 256, {@code <|eos|>} at 257. */
    private static String tokJson(String wordSplit, String extraRegular, String extraKeys) {
        StringBuilder b = new StringBuilder("{").append(wordSplit == null ? "" : "\"word_split\": " + wordSplit + ", ")
                .append(extraKeys).append("\"special_tokens\": [{\"bytes\": [60,124,101,111,115,124,62], \"token\": 257}],")
                .append("\"regular_tokens\": [");
        for (int i = 0; i < 256; i++) {
            b.append("{\"bytes\": [").append(i).append("], \"token\": ").append(i).append("},");
        }
        return b.append("{\"bytes\": [97, 98], \"token\": 256}").append(extraRegular).append("]}").toString();
    }

    private String message(String json) throws IOException {
        Path file = dir.resolve("bad.tok.json");
        Files.writeString(file, json);
        TokenizerFormatException e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.load(file));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        return e.getMessage();
    }

    @Test
    void validFileLoads() throws IOException {
        Path file = dir.resolve("ok.tok.json");
        Files.writeString(file, tokJson("\"V1\"", "", "\"vocab_size\": 258, "));
        Tokenizer tok = Tokenizer.load(file);
        assertEquals(258, tok.vocabSize());
        assertEquals(257, tok.eosId());
        assertEquals("ab<|eos|>", tok.decode(tok.encode("ab<|eos|>")));
    }

    @Test
    void duplicateRank() throws IOException {
        String m = message(tokJson("\"V1\"", ", {\"bytes\": [99, 100], \"token\": 256}", ""));
        assertTrue(m.contains("duplicate rank (token id) 256"), m);
    }

    @Test
    void duplicateBytes() throws IOException {
        String m = message(tokJson("\"V1\"", ", {\"bytes\": [97, 98], \"token\": 300}", ""));
        assertTrue(m.contains("ids 256 and 300 have the same bytes"), m);
    }

    @Test
    void wordSplitOtherThanV1WithoutPatStr() throws IOException {
        String m = message(tokJson("\"V2\"", "", ""));
        assertTrue(m.contains("word_split is \"V2\"; only \"V1\" is known"), m);
        assertTrue(message(tokJson(null, "", "")).contains("word_split is missing"));
    }

    @Test
    void patStrReplacesTheSplit() throws IOException {
        Path file = dir.resolve("pat.tok.json");
        Files.writeString(file, tokJson("\"V9\"", "", "\"pat_str\": \"\\\\S\", "));
        Tokenizer tok = Tokenizer.load(file);
        assertEquals(2, tok.encode("ab").length); // every character its own piece: "ab" is not looked up whole
    }

    @Test
    void vocabSizeMustMatchTheIds() throws IOException {
        assertTrue(message(tokJson("\"V1\"", "", "\"vocab_size\": 300, ")).contains("vocab_size is 300"));
    }

    @Test
    void malformedEntriesAndJson() throws IOException {
        assertTrue(message(tokJson("\"V1\"", ", {\"bytes\": [256], \"token\": 400}", ""))
                .contains("regular_tokens[257] (id 400): byte 0 is 256, expected 0..255"));
        assertTrue(message(tokJson("\"V1\"", ", {\"bytes\": [1, 2], \"token\": -1}", ""))
                .contains("\"token\" must be a non-negative integer id"));
        assertTrue(message("{\"word_split\": \"V1\", \"regular_tokens\": [").contains("invalid JSON"));
        assertTrue(message("{\"word_split\": \"V1\", \"regular_tokens\": []}").contains("single byte 0"));
    }

    @Test
    void anotherJsonFileIsNotATokenizer() throws IOException {
        String m = message("{\"model_type\": \"grok-1\", \"vocab_size\": 131072}");
        assertTrue(m.endsWith(": not a tiktoken tokenizer.tok.json (no \"regular_tokens\"; Grok-2 ships one beside its "
                + "weights, Grok-1 a SentencePiece tokenizer.model)"), m);
    }

    @Test
    void invalidUtf8() throws IOException {
        Path file = dir.resolve("latin1.tok.json");
        Files.write(file, new byte[] {'{', '"', (byte) 0xE9, '"', ':', '1', '}'});
        TokenizerFormatException e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.load(file));
        assertEquals(file + ": not valid UTF-8", e.getMessage());
    }
}
