package grok1j.cli;

import static grok1j.cli.CliTest.assertBadInput;
import static grok1j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code --threads} above the core count is refused in every command unless {@code --oversubscribe-threads}. */
class ThreadsCliTest {
    static final int CORES = Runtime.getRuntime().availableProcessors();

    @BeforeAll
    static void paths() throws Exception {
        CliTest.paths();
    }

    @Test
    void resolve() {
        assertEquals(8, ThreadCount.resolve(null, false, 8));
        assertEquals(8, ThreadCount.resolve(8, false, 8));
        assertEquals(16, ThreadCount.resolve(16, true, 8));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ThreadCount.resolve(9, false, 8));
        assertEquals("--threads 9 is more than the 8 cores of this machine (each step waits for its slowest thread);"
                + " add --oversubscribe-threads to run anyway", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ThreadCount.resolve(0, true, 8));
        assertThrows(IllegalArgumentException.class, () -> ThreadCount.resolve(2000, true, 8));
    }

    @Test
    void everyCommandRefusesMoreThreadsThanCores() {
        String model = CliTest.tiny.toString();
        String cores = "the " + CORES + " cores";
        assertBadInput(run("generate", "--model", model, "--prompt", "hi", "--threads", "1000"), "--threads 1000", cores,
                "--oversubscribe-threads");
        assertBadInput(run("score", "--model", model, "--prompt", "hi", "--threads", "1000"), cores);
        assertBadInput(run("serve", "--model", model, "--port", "0", "--threads", "1000"), cores);
        assertBadInput(run("bench", "--threads", "1000"), cores);
    }

    @Test
    void oversubscribingIsAllowedWhenAsked() {
        CliTest.Run r = run("generate", "--model", CliTest.tiny.toString(), "--prompt", "hi", "--max-tokens", "2",
                "--temperature", "0", "--threads", Integer.toString(CORES + 1), "--oversubscribe-threads");
        assertEquals(0, r.status(), r.err());
    }
}
