package grok1j.server;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the request parser: a body read as JSON the way the server reads it, then as a
 * completions and as a chat request. Contract: the body is JSON or not ({@link JsonProcessingException}, a 400), and
 * a JSON object either parses or gets an {@link ApiException} with status 400 and a one-line message; never another
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
            Tokenizer tok = Tokenizer.load(TestModel.tiny().resolve("tokenizer.model"));
            PARSER = new RequestParser(tok, 64, ChatTemplate.defaults(), 12);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
            n = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            oneLine(e.getOriginalMessage());
            return THREADS.getThreadAllocatedBytes(thread) - before;
        } catch (IOException e) {
            throw new AssertionError("reading a byte array failed: " + e, e);
        }
        if (n != null && n.isObject()) {
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
        }
        return THREADS.getThreadAllocatedBytes(thread) - before;
    }

    private static void oneLine(String m) {
        if (m == null || m.isBlank()) {
            throw new AssertionError("an error without a message");
        }
    }
}
