package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The {@code bytes} of a logprobs entry are the bytes the token stands for, whatever its {@code token} text shows. */
class LogprobBytesTest {
    private static final Path SHARED = Path.of(System.getProperty("grok1j.shared", "../shared"));

    @Test
    void grok2TokensThatAreNotUtf8OnTheirOwnGiveTheirRawBytes() throws Exception {
        Tokenizer grok2 = Tokenizer.load(SHARED.resolve("fixtures/grok-2-tiny/tokenizer.tok.json"));
        // 358 is E8 AF 8D E5: a whole character and a lead byte, shown as <0xXX> text (it used to report that text's UTF-8)
        assertEquals("<0xE8><0xAF><0x8D><0xE5>", OpenAiServer.tokenText(grok2, 358));
        assertArrayEquals(new byte[] {(byte) 0xE8, (byte) 0xAF, (byte) 0x8D, (byte) 0xE5}, OpenAiServer.tokenBytes(grok2, 358));
        int hello = grok2.encode("hello")[0];
        assertArrayEquals(OpenAiServer.tokenText(grok2, hello).getBytes(StandardCharsets.UTF_8), OpenAiServer.tokenBytes(grok2, hello));
        for (int id = 0; id < grok2.vocabSize(); id++) {
            if (grok2.byteValue(id) >= 0) {
                assertArrayEquals(new byte[] {(byte) grok2.byteValue(id)}, OpenAiServer.tokenBytes(grok2, id));
            }
        }
    }

    @Test
    void sentencePieceTokensGiveTheirTextOrTheirByte() throws Exception {
        Tokenizer grok1 = Tokenizer.load(SHARED.resolve("fixtures/grok-1-tiny/tokenizer.model"));
        int the = grok1.encode("the")[0];
        assertArrayEquals(OpenAiServer.tokenText(grok1, the).getBytes(StandardCharsets.UTF_8), OpenAiServer.tokenBytes(grok1, the));
        int newline = grok1.pieceId("<0x0A>");
        assertArrayEquals(new byte[] {10}, OpenAiServer.tokenBytes(grok1, newline));
    }
}
