package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Forgetting {@code --add-modules jdk.incubator.vector} gives one line naming the flag, not a NoClassDefFoundError. */
class VectorModuleTest {
    /** Opens the model given as the argument and prints how that ended. */
    public static void main(String[] args) throws IOException {
        try (Model m = Model.open(Path.of(args[0]))) {
            System.out.println("opened " + m.config().layers());
        } catch (IllegalStateException e) {
            System.out.println("refused: " + e.getMessage());
        }
    }

    @Test
    void missingModuleFlagIsOneClearLine() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(List.of(java.toString(), "-cp", System.getProperty("java.class.path"),
                VectorModuleTest.class.getName(), TestFiles.tinyModel().toString()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.startsWith("refused: grok1j needs the Vector API: start java with --add-modules jdk.incubator.vector"), out);
        assertEquals(1, out.lines().count(), out);
    }
}
