package grok1j.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import grok1j.FuzzContract;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the SentencePiece model reader ({@code ModelProto} through {@link ProtoReader}), then
 * of the tokenizer built from whatever it accepted: encoding a text with spaces, digits, accents, an emoji and an
 * invalid byte, and decoding the ids. Contract: {@link FuzzContract}, with {@link TokenizerFormatException} as the
 * documented error.
 *
 * <p>{@code bin/test} replays {@code SentencePieceFuzzTestInputs/fuzz/} and fuzzes for a few seconds;
 * {@code bin/fuzz} fuzzes longer.
 */
class SentencePieceFuzzTest {
    private static final byte[] TEXT = "Hello  w\u00f6rld 12\n\u4f60\u597d \uD83D\uDE00".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    @FuzzTest(maxDuration = "10s")
    @Timeout(30) // per input while fuzzing (a hang), per replayed input otherwise
    void fuzz(byte[] input) {
        FuzzContract.check(input.length, () -> {
            Tokenizer tok = new SentencePieceTokenizer(SentencePieceModel.parse(input, "fuzz.model"));
            tok.decode(tok.encode(new String(TEXT, java.nio.charset.StandardCharsets.UTF_8)));
        }, TokenizerFormatException.class);
    }
}
