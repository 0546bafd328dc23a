package grok1j.format.gguf;

import com.code_intelligence.jazzer.junit.FuzzTest;
import grok1j.FuzzContract;
import grok1j.tokenizer.SentencePieceModel;
import grok1j.tokenizer.Tokenizer;
import grok1j.tokenizer.TokenizerFormatException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the GGUF reader: header, metadata (every value read, arrays walked), tensor infos and
 * data ranges, the hyperparameters and, where the file carries one, the embedded vocabulary turned into a tokenizer
 * (SentencePiece, or tiktoken for a byte-level one) that then encodes and decodes a text. Contract: {@link FuzzContract}, with {@link GgufFormatException} (and
 * {@link TokenizerFormatException} for a vocabulary SentencePiece cannot use) as the documented errors.
 *
 * <p>{@code bin/test} replays {@code GgufFuzzTestInputs/fuzz/} and fuzzes for a few seconds; {@code bin/fuzz}
 * fuzzes longer.
 */
class GgufFuzzTest {
    private static final Path NAME = Path.of("fuzz.gguf");

    @FuzzTest(maxDuration = "10s")
    @Timeout(30) // per input while fuzzing (a hang), per replayed input otherwise
    void fuzz(byte[] input) {
        FuzzContract.check(input.length, () -> parse(input), GgufFormatException.class, TokenizerFormatException.class);
    }

    private static void parse(byte[] input) throws TokenizerFormatException {
        try (GgufFile f = GgufFile.parse(NAME, MemorySegment.ofArray(input))) {
            for (Map.Entry<String, Object> e : f.metadata().entrySet()) {
                String.valueOf(e.getValue()); // arrays render their first elements
            }
            for (GgufTensor t : f.tensors()) {
                t.info();
            }
            if (f.get("general.architecture") != null) {
                try {
                    GgufModel.config(f);
                } catch (GgufFormatException e) {
                    // the vocabulary below is read whatever the hyperparameters say
                }
            }
            if (f.get("tokenizer.ggml.tokens") != null) {
                GgufVocab v = GgufModel.vocabulary(f, 1, 2, 0);
                Tokenizer tok = v.byteLevel() ? GgufVocab.tiktoken(v, NAME.toString())
                        : new grok1j.tokenizer.SentencePieceTokenizer(SentencePieceModel.fromVocabulary(NAME.toString(), v.tokens(),
                        v.scores(), v.tokenTypes(), v.bosId(), v.eosId(), v.padId()));
                int[] ids = tok.encode("Hello wörld 12 \u00ff\uD83D\uDE00");
                tok.decode(ids);
            }
        }
    }
}
