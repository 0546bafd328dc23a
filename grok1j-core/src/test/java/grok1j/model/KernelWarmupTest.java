package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import grok1j.TestFiles;
import grok1j.tensor.ThreadPool;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class KernelWarmupTest {

    @Test
    void runsBoundedRoundsAndLeavesTheModelAsItWas() throws Exception {
        try (ThreadPool pool = new ThreadPool(2); Model model = Model.open(TestFiles.tinyModel(), null, pool)) {
            Transformer net = model.network();
            int[] prompt = {1, 400, 12, 9000, 77};
            float[] before = net.forward(prompt, 0, prompt.length, new KvCache(net.config()), Transformer.Logits.ALL);

            assertEquals(1, KernelWarmup.run(net.weights(), pool, Duration.ZERO), "a zero budget still runs one round");
            assertEquals(KernelWarmup.MAX_ROUNDS, KernelWarmup.run(net.weights(), pool, Duration.ofMinutes(5)),
                    "the tiny model ends at the round limit long before the budget");
            assertEquals(3, KernelWarmup.run(net, Duration.ofMinutes(5), 3), "a round limit of its own (bench --model)");

            // nothing of the model is changed: the same logits, up to the last bits, which move because the first
            // call ran partly in the interpreter and the last in C2 code, whose reduceLanes(ADD) adds the lanes in
            // another (documented as unspecified) order
            float[] after = net.forward(prompt, 0, prompt.length, new KvCache(net.config()), Transformer.Logits.ALL);
            assertEquals(before.length, after.length);
            for (int i = 0; i < before.length; i++) {
                assertEquals(before[i], after[i], 1e-5 * Math.max(1, Math.abs(before[i])), "logit " + i);
            }
            assertThrows(IllegalArgumentException.class, () -> KernelWarmup.run(net.weights(), pool, Duration.ofSeconds(-1)));
            assertThrows(IllegalArgumentException.class, () -> KernelWarmup.run(net, Duration.ofMinutes(5), 0));
        }
    }
}
