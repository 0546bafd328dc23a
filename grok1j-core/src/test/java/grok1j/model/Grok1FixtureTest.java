package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.format.Json;
import grok1j.generate.GenerationContext;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.TokenListener;
import grok1j.tensor.ThreadPool;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The forward pass against {@code fixtures/grok-1-tiny/expected.json} (numpy reference, float32 numerics):
 * every top-10 logit at every prompt position, all last-position logits, 12 greedy steps.
 */
class Grok1FixtureTest {
    static final double TOLERANCE = 2e-3;
    static Model model;
    static List<Map<String, Object>> cases;

    @BeforeAll
    @SuppressWarnings("unchecked")
    static void load() throws Exception {
        model = Model.open(TestFiles.tinyModel(), null, new ThreadPool(2));
        Map<String, Object> expected = (Map<String, Object>) Json.parse(Files.readString(TestFiles.tinyModel().resolve("expected.json")));
        cases = (List<Map<String, Object>>) expected.get("cases");
        assertTrue(cases.size() >= 1);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    @Test
    void tokenizerGivesThePromptIds() {
        for (Map<String, Object> c : cases) {
            assertArrayEquals(ints(c.get("prompt_ids")), model.tokenizer().encode((String) c.get("prompt")), (String) c.get("prompt"));
        }
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
                    assertEquals(want, got, TOLERANCE, "case '" + c.get("prompt") + "' position " + p + " id " + id);
                }
            }
        }
        System.out.printf("top-10 logits: max |delta| = %.3g over %d cases%n", worst, cases.size());
    }

    @Test
    void allLastPositionLogits() throws Exception {
        double worst = 0;
        for (Map<String, Object> c : cases) {
            Path npy = TestFiles.tinyModel().resolve((String) c.get("last_logits"));
            float[] want = TestFiles.readNpyFloat32(npy);
            assertEquals(model.config().vocabSize(), want.length);
            int[] ids = ints(c.get("prompt_ids"));
            GenerationContext ctx = model.newContext();
            float[] got = model.network().forward(ids, 0, ids.length, ctx.cache(), Transformer.Logits.LAST);
            for (int v = 0; v < want.length; v++) {
                double dlt = Math.abs(got[v] - want[v]);
                worst = Math.max(worst, dlt);
                if (dlt > TOLERANCE) {
                    assertEquals(want[v], got[v], TOLERANCE, npy.getFileName() + " logit " + v);
                }
            }
        }
        System.out.printf("last-position logits: max |delta| = %.3g%n", worst);
    }

    @Test
    @SuppressWarnings("unchecked")
    void twelveGreedyTokens() {
        for (Map<String, Object> c : cases) {
            List<Map<String, Object>> greedy = (List<Map<String, Object>>) c.get("greedy");
            int[] want = greedy.stream().mapToInt(g -> ((Number) g.get("token")).intValue()).toArray();
            SamplingParams p = new SamplingParams(0, 0, 1, 0, null, want.length, List.of(), true);
            GenerationResult r = model.newContext().generate(ints(c.get("prompt_ids")), p, TokenListener.NONE);
            assertArrayEquals(want, r.ids(), "greedy tokens of '" + c.get("prompt") + "'");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void greedyStepLogitsMatchTopFive() {
        int vocab = model.config().vocabSize();
        for (Map<String, Object> c : cases) {
            int[] prompt = ints(c.get("prompt_ids"));
            List<Map<String, Object>> greedy = (List<Map<String, Object>>) c.get("greedy");
            KvCache cache = new KvCache(model.config());
            float[] logits = model.network().forward(prompt, 0, prompt.length, cache, Transformer.Logits.LAST);
            for (Map<String, Object> step : greedy) {
                for (List<Number> pair : (List<List<Number>>) step.get("top5")) {
                    assertEquals(pair.get(1).doubleValue(), logits[pair.get(0).intValue()], TOLERANCE);
                }
                int tok = ((Number) step.get("token")).intValue();
                logits = model.network().forward(new int[] {tok}, 0, 1, cache, Transformer.Logits.LAST);
                assertEquals(vocab, logits.length);
            }
        }
    }

    @Test
    void decodeStepEqualsPrefill() {
        int[] ids = ints(cases.get(0).get("prompt_ids"));
        int vocab = model.config().vocabSize();
        KvCache prefillCache = new KvCache(model.config());
        float[] all = model.network().forward(ids, 0, ids.length, prefillCache, Transformer.Logits.ALL);
        KvCache stepCache = new KvCache(model.config());
        double worst = 0;
        for (int t = 0; t < ids.length; t++) {
            float[] step = model.network().forward(ids, t, 1, stepCache, Transformer.Logits.LAST);
            for (int v = 0; v < vocab; v++) {
                worst = Math.max(worst, Math.abs(step[v] - all[t * vocab + v]));
            }
        }
        System.out.printf("decode vs prefill: max |delta| = %.3g%n", worst);
        assertTrue(worst <= 1e-4, "decode and prefill logits differ by " + worst);
    }
}
