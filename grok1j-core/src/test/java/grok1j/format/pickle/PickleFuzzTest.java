package grok1j.format.pickle;

import com.code_intelligence.jazzer.junit.FuzzTest;
import grok1j.FuzzContract;
import grok1j.format.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the restricted pickle reader (one official checkpoint shard). Contract:
 * {@link FuzzContract}, with {@link ModelFormatException} as the documented error. The reader works on files, so each
 * input is written to one temporary file first.
 *
 * <p>{@code bin/test} replays {@code PickleFuzzTestInputs/fuzz/} and fuzzes for a few seconds; {@code bin/fuzz}
 * fuzzes longer.
 */
class PickleFuzzTest {
    private static final Path FILE;

    static {
        try {
            FILE = Files.createTempFile("fuzz-tensor", "_000");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterAll
    static void delete() throws IOException {
        Files.deleteIfExists(FILE);
    }

    @FuzzTest(maxDuration = "10s")
    @Timeout(30) // per input while fuzzing (a hang), per replayed input otherwise
    void fuzz(byte[] input) throws IOException {
        Files.write(FILE, input);
        FuzzContract.check(input.length, () -> {
            PickleShard s = PickleShard.read(FILE);
            s.name();
            s.payloadBytes();
        }, ModelFormatException.class);
    }
}
