package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ServeCommandTest {
    @Test
    void modelIdIsTheFolderOrFileName() {
        assertEquals("grok-1", ServeCommand.defaultModelId(Path.of("/models/grok-1")));
        assertEquals("grok-1", ServeCommand.defaultModelId(Path.of("/models/grok-1/ckpt-0")));
        assertEquals("grok-1-q8_0.gguf", ServeCommand.defaultModelId(Path.of("models/grok-1-q8_0.gguf")));
    }

    @Test
    void badOptionsAreOneLineAndExit2() {
        assertBadInput("--parallel must be in [1, 1024], got 0", "serve", "--model", "x", "--parallel", "0");
        assertBadInput("--queue must be >= 0", "serve", "--model", "x", "--queue", "-1");
        assertBadInput("--warmup must be >= 0, got -2", "serve", "--model", "x", "--warmup", "-2");
        assertBadInput("--keep-alive must be >= 1 second, got 0", "serve", "--model", "x", "--keep-alive", "0");
        assertBadInput("--idle-timeout must be >= 1 second, got 0", "serve", "--model", "x", "--idle-timeout", "0");
        assertBadInput("--keep-alive (10 s) must be shorter than --idle-timeout (10 s)", "serve", "--model", "x",
                "--keep-alive", "10", "--idle-timeout", "10");
        assertBadInput("--max-connections must be >= 1, got 0", "serve", "--model", "x", "--max-connections", "0");
        assertBadInput("no such file or directory: /no/such/model", "serve", "--model", "/no/such/model", "--port", "0");
    }

    /** A bad {@code -Dgrok1j.gguf.interleave} is refused before the socket opens (it used to print "listening" first). */
    @Test
    void badInterleaveSettingIsRefusedBeforeListening() {
        System.setProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY, "maybe");
        try {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = Main.run(new String[] {"serve", "--model", "x.gguf", "--port", "0"}, System.out,
                    new PrintStream(err, true, StandardCharsets.UTF_8));
            String e = err.toString(StandardCharsets.UTF_8);
            assertEquals(2, code, e);
            assertEquals("grok1j: -Dgrok1j.gguf.interleave must be true or false, got \"maybe\"", e.strip());
        } finally {
            System.clearProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY);
        }
    }

    @Test
    void helpListsTheOptions() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code = Main.run(new String[] {"serve", "--help"}, new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
        assertEquals(0, code);
        String help = out.toString(StandardCharsets.UTF_8);
        for (String o : new String[] {"--host", "--port", "--api-key", "--parallel", "--queue", "--threads", "--tokenizer", "--chat-template",
            "--keep-alive", "--idle-timeout", "--max-connections"}) {
            assertTrue(help.contains(o), o);
        }
    }

    private static void assertBadInput(String message, String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
        String e = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, e);
        assertTrue(e.contains(message), e);
    }
}
