package grok1j.cli;

import static grok1j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.format.pickle.CheckpointLayout;
import grok1j.model.NanFixture;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A NaN weight: {@code generate} and {@code score} exit 2 with one line naming where the activations went non-finite. */
class NonFiniteCliTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void paths() throws Exception {
        CliTest.paths();
    }

    @Test
    void generateNamesTheLayerAndTensor() throws Exception {
        Path m = NanFixture.withNaNInMatrix(dir, 0, CheckpointLayout.Slot.ATTN_OUTPUT);
        CliTest.Run r = run("generate", "--model", m.toString(), "--prompt", "Hello", "--max-tokens", "4", "--temperature", "0");
        CliTest.assertBadInput(r, "layer 0 attention output projection", "not finite", "inspect --check");
        assertEquals("grok1j: the logits at position 0 are not finite (NaN or infinite): the activations first went "
                + "non-finite in layer 0 attention output projection; check the weights with grok1j inspect --check", r.errLine());
        assertEquals("", r.out());
    }

    @Test
    void scoreNamesTheExpert() throws Exception {
        Path m = NanFixture.withNaNInExpert(dir, 11, CheckpointLayout.Slot.DOWN, 5);
        CliTest.Run ok = run("score", "--model", m.toString(), "--prompt", "Hello", "--json");
        assertEquals(0, ok.status(), "'Hello' never routes to expert 5 in layer 11: " + ok.err());
        CliTest.Run r = run("score", "--model", m.toString(), "--prompt", "Paris is", "--json");
        CliTest.assertBadInput(r, "layer 11 expert 5 down projection");
        assertEquals("", r.out());
    }

    @Test
    void inspectCheckListsTheTensor() throws Exception {
        Path m = NanFixture.withNaNInExpert(dir, 11, CheckpointLayout.Slot.DOWN, 5);
        CliTest.Run r = run("inspect", "--model", m.toString(), "--check");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.out().contains("transformer/decoder_layer_11/moe/linear_1/w: int8 scales: 1 NaN"), r.out());
    }
}
