package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.format.Json;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.TokenListener;
import grok1j.tensor.ThreadPool;
import grok1j.tokenizer.TiktokenTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The shared forward pass in Grok-2 mode against {@code fixtures/grok-2-tiny/expected.json} (a NumPy port of SGLang,
 * grok-2 spec §8.4): the top-10 logits at every prompt position and all last-position logits within 2e-3, the 12
 * greedy tokens of each case (decoding with the KV cache) and their top-5 logits, decode equal to prefill.
 */
class Grok2FixtureTest {
    static final double TOLERANCE = 2e-3;
    static Model model;
    static List<Map<String, Object>> cases;

    @BeforeAll
    @SuppressWarnings("unchecked")
    static void load() throws Exception {
        model = Model.open(TestFiles.grok2Tiny(), null, new ThreadPool(2));
        Map<String, Object> expected = (Map<String, Object>) Json.parse(Files.readString(TestFiles.grok2Tiny().resolve("expected.json")));
        cases = (List<Map<String, Object>>) expected.get("cases");
        assertEquals(3, cases.size());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    @Test
    void opensAsGrok2WithItsTiktokenTokenizer() {
        assertEquals("grok-2", model.config().architecture().name());
        assertInstanceOf(TiktokenTokenizer.class, model.tokenizer());
        assertEquals(2, model.config().eosId());
        assertEquals(Float.intBitsToFloat(0x41800000), model.config().effectiveEmbeddingMultiplier()); // 16, exact
    }

    @Test
    @SuppressWarnings("unchecked")
    void topTenLogitsAtEveryPromptPosition() {
        int vocab = model.config().vocabSize();
        double worst = 0;
        for (Map<String, Object> c : cases) {
            int[] ids = ints(c.get("prompt_ids"));
            float[] logits = model.newContext().score(ids);
            List<List<List<Number>>> top = (List<List<List<Number>>>) c.get("top10_per_position");
            assertEquals(ids.length, top.size());
            for (int p = 0; p < ids.length; p++) {
                for (List<Number> pair : top.get(p)) {
                    int id = pair.get(0).intValue();
                    double want = pair.get(1).doubleValue();
                    double got = logits[p * vocab + id];
                    worst = Math.max(worst, Math.abs(got - want));
                    assertEquals(want, got, TOLERANCE, "prompt of " + ids.length + " ids, position " + p + " id " + id);
                }
            }
        }
        System.out.printf("grok-2 top-10 logits: max |delta| = %.3g over %d cases%n", worst, cases.size());
    }

    @Test
    void allLastPositionLogits() throws Exception {
        double worst = 0;
        for (Map<String, Object> c : cases) {
            Path npy = TestFiles.grok2Tiny().resolve((String) c.get("last_logits"));
            float[] want = TestFiles.readNpyFloat32(npy);
            assertEquals(model.config().vocabSize(), want.length);
            int[] ids = ints(c.get("prompt_ids"));
            float[] got = model.network().forward(ids, 0, ids.length, model.network().newCache(), Transformer.Logits.LAST);
            for (int v = 0; v < want.length; v++) {
                double dlt = Math.abs(got[v] - want[v]);
                worst = Math.max(worst, dlt);
                if (dlt > TOLERANCE) {
                    assertEquals(want[v], got[v], TOLERANCE, npy.getFileName() + " logit " + v);
                }
            }
        }
        System.out.printf("grok-2 last-position logits: max |delta| = %.3g%n", worst);
    }

    @Test
    @SuppressWarnings("unchecked")
    void twelveGreedyTokens() {
        for (Map<String, Object> c : cases) {
            List<Map<String, Object>> greedy = (List<Map<String, Object>>) c.get("greedy");
            int[] want = greedy.stream().mapToInt(g -> ((Number) g.get("token")).intValue()).toArray();
            assertEquals(12, want.length);
            SamplingParams p = new SamplingParams(0, 0, 1, 0, null, want.length, List.of(), true);
            GenerationResult r = model.newContext().generate(ints(c.get("prompt_ids")), p, TokenListener.NONE);
            assertArrayEquals(want, r.ids(), "greedy tokens after " + c.get("prompt_ids"));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void greedyStepLogitsMatchTopFive() {
        double worst = 0;
        for (Map<String, Object> c : cases) {
            int[] prompt = ints(c.get("prompt_ids"));
            List<Map<String, Object>> greedy = (List<Map<String, Object>>) c.get("greedy");
            KvCache cache = model.network().newCache();
            float[] logits = model.network().forward(prompt, 0, prompt.length, cache, Transformer.Logits.LAST);
            for (Map<String, Object> step : greedy) {
                for (List<Number> pair : (List<List<Number>>) step.get("top5")) {
                    double want = pair.get(1).doubleValue();
                    worst = Math.max(worst, Math.abs(want - logits[pair.get(0).intValue()]));
                    assertEquals(want, logits[pair.get(0).intValue()], TOLERANCE);
                }
                int tok = ((Number) step.get("token")).intValue();
                logits = model.network().forward(new int[] {tok}, 0, 1, cache, Transformer.Logits.LAST);
            }
        }
        System.out.printf("grok-2 greedy top-5 logits: max |delta| = %.3g%n", worst);
    }

    @Test
    void theThreePromptsInOneBatchGiveTheirOwnLastLogits() throws Exception {
        // one forward call over all three prompts (the server's batched prefill): the dense MLP and the last layer's
        // compaction run over rows of different sequences
        List<Transformer.Step> steps = new java.util.ArrayList<>();
        for (Map<String, Object> c : cases) {
            int[] ids = ints(c.get("prompt_ids"));
            steps.add(new Transformer.Step(ids, 0, ids.length, model.network().newCache(), Transformer.Logits.LAST));
        }
        List<float[]> got = model.network().forward(steps);
        double worst = 0;
        for (int i = 0; i < cases.size(); i++) {
            float[] want = TestFiles.readNpyFloat32(TestFiles.grok2Tiny().resolve((String) cases.get(i).get("last_logits")));
            for (int v = 0; v < want.length; v++) {
                worst = Math.max(worst, Math.abs(got.get(i)[v] - want[v]));
            }
        }
        System.out.printf("grok-2 batched last-position logits: max |delta| = %.3g%n", worst);
        assertTrue(worst <= TOLERANCE, "batched logits differ by " + worst);
    }

    @Test
    void kernelWarmupRunsOnTheGrok2Layers() {
        assertEquals(1, KernelWarmup.run(model.network(), java.time.Duration.ZERO));
    }

    @Test
    void decodeStepEqualsPrefill() {
        // the longest prompt: 24 positions, so the temperature (L = 2) scales most rows
        int[] ids = ints(cases.get(2).get("prompt_ids"));
        int vocab = model.config().vocabSize();
        float[] all = model.network().forward(ids, 0, ids.length, model.network().newCache(), Transformer.Logits.ALL);
        KvCache stepCache = model.network().newCache();
        double worst = 0;
        for (int t = 0; t < ids.length; t++) {
            float[] step = model.network().forward(ids, t, 1, stepCache, Transformer.Logits.LAST);
            for (int v = 0; v < vocab; v++) {
                worst = Math.max(worst, Math.abs(step[v] - all[t * vocab + v]));
            }
        }
        System.out.printf("grok-2 decode vs prefill: max |delta| = %.3g%n", worst);
        assertTrue(worst <= 1e-4, "decode and prefill logits differ by " + worst);
    }
}
