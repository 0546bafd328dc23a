package grok1j.server;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.tokenizer.SentencePieceModel;
import grok1j.tokenizer.Tokenizer;
import grok1j.tokenizer.TokenizerFormatException;
import java.util.ArrayList;
import java.util.List;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the request parser: a body read as JSON the way the server reads it, then as a
 * completions and as a chat request. Contract: the body either parses or gets an {@link ApiException} with status
 * 400 and a message (not JSON, not an object, a field out of range); never another
 * exception, never a hang (per-input {@code @Timeout}) and never heap far beyond the body's size.
 *
 * <p>{@code bin/test} replays {@code RequestFuzzTestInputs/fuzz/} and fuzzes for a few seconds; {@code bin/fuzz}
 * fuzzes longer.
 */
class RequestFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final RequestParser PARSER;

    static {
        try {
            PARSER = new RequestParser(smallTokenizer(), 64, ChatTemplate.defaults(), 12);
        } catch (TokenizerFormatException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A 300-piece SentencePiece vocabulary (specials, "▁", a few letters and merges, the 256 byte pieces): the parser
     * only needs encode, decode and the vocabulary size, and the real 131,072 pieces take long to load under Jazzer's
     * instrumentation.
     */
    static Tokenizer smallTokenizer() throws TokenizerFormatException {
        List<String> pieces = new ArrayList<>(List.of("<unk>", "<s>", "</s>", "\u2581", "a", "e", "h", "i", "\u2581h", "hi"));
        int normal = pieces.size();
        for (int b = 0; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b));
        }
        int n = pieces.size();
        float[] scores = new float[n];
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < normal ? 1 : 6;
            scores[i] = i < normal ? -i : 0;
        }
        return new grok1j.tokenizer.SentencePieceTokenizer(SentencePieceModel.fromVocabulary("fuzz", pieces.toArray(String[]::new), scores, types, 1, 2, -1));
    }
    @FuzzTest(maxDuration = "10s")
    @Timeout(30) // per input while fuzzing (a hang), per replayed input otherwise
    void fuzz(byte[] body) {
        long limit = (16L << 20) + 256L * body.length;
        if (parseAll(body) > limit && parseAll(body) > limit) { // the first parse of a run also loads classes
            throw new AssertionError("parsing a body of " + body.length + " bytes allocated more than " + limit + " bytes");
        }
    }

    /** Parses {@code body} every way the server does, checks how each ended, returns the bytes allocated. */
    private static long parseAll(byte[] body) {
        long thread = Thread.currentThread().threadId();
        long before = THREADS.getThreadAllocatedBytes(thread);
        JsonNode n;
        try {
            n = RequestParser.readBody(JSON, body);
        } catch (ApiException e) {
            oneLine(e.getMessage());
            return THREADS.getThreadAllocatedBytes(thread) - before;
        }
        for (int chat = 0; chat < 2; chat++) {
            try {
                if (chat == 1) {
                    PARSER.chat(n);
                } else {
                    PARSER.completion(n);
                }
            } catch (ApiException e) {
                if (e.status() != 400) {
                    throw new AssertionError("status " + e.status() + ": " + e.getMessage(), e);
                }
                oneLine(e.getMessage());
            }
        }
        return THREADS.getThreadAllocatedBytes(thread) - before;
    }

    private static void oneLine(String m) {
        if (m == null || m.isBlank()) {
            throw new AssertionError("an error without a message");
        }
    }
}
