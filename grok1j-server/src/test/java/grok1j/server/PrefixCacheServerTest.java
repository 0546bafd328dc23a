package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.model.Model;
import grok1j.model.ModelFingerprint;
import grok1j.model.PrefixCache;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The prefix cache through the HTTP API (issue 14's checks): a warm request prefills only its new tokens and answers
 * what a cold server answers, bit for bit; concurrent requests sharing a system prompt answer as one at a time;
 * heavy eviction under a tiny budget never changes an answer.
 */
@Timeout(value = 5, unit = java.util.concurrent.TimeUnit.MINUTES)
class PrefixCacheServerTest {

    static OpenAiServer start(ServerConfig config, long cacheBlocks) throws IOException {
        OpenAiServer s = OpenAiServer.start(config.withHost("127.0.0.1").withPort(0).withModelId("grok-1-tiny"));
        Model m = TestModel.model();
        PrefixCache pc = cacheBlocks < 0 ? null : new PrefixCache(m.network(),
                cacheBlocks * PrefixCache.blockBytes(m.network()), null,
                ModelFingerprint.of(m.network().weights()));
        s.ready(m, pc);
        return s;
    }

    static int[] ids(long seed, int n) {
        return new Random(seed).ints(n, 1000, 20000).toArray();
    }

    static int[] join(int[]... parts) {
        int[] out = new int[0];
        for (int[] p : parts) {
            int at = out.length;
            out = Arrays.copyOf(out, at + p.length);
            System.arraycopy(p, 0, out, at, p.length);
        }
        return out;
    }

    static String completion(int[] prompt, int maxTokens, int logprobs) {
        ObjectNode o = TestModel.JSON.createObjectNode();
        ArrayNode a = o.putArray("prompt");
        for (int id : prompt) {
            a.add(id);
        }
        o.put("max_tokens", maxTokens).put("temperature", 0).put("logprobs", logprobs);
        return o.toString();
    }

    static JsonNode ok(TestModel.Response r) {
        assertEquals(200, r.status(), r.body());
        return r.json();
    }

    static double metric(OpenAiServer s, String name) {
        return TestModel.metric(TestModel.get(s, "/metrics").body(), name);
    }

    @Test
    void aSecondRequestSharingA500TokenPrefixPrefillsOnlyItsNewTokensAndAnswersAsACold() throws Exception {
        int[] prefix = ids(1, 500);
        int[] first = join(prefix, ids(2, 10));
        int[] second = join(prefix, ids(3, 12));
        JsonNode cold;
        try (OpenAiServer s = start(ServerConfig.defaults(), -1)) {
            cold = ok(TestModel.post(s, "/v1/completions", completion(second, 4, 5)));
        }
        try (OpenAiServer s = start(ServerConfig.defaults(), 1000)) {
            JsonNode a = ok(TestModel.post(s, "/v1/completions", completion(first, 4, 5)));
            assertEquals(0, a.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt());
            assertEquals(first.length, metric(s, "grok1j_prefill_tokens_total"));
            JsonNode b = ok(TestModel.post(s, "/v1/completions", completion(second, 4, 5)));
            // the 500 shared tokens are 31 whole blocks (496) and 4 more; the last 4 and the 12 new ones are prefilled
            assertEquals(496, b.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt());
            assertEquals(first.length + second.length - 496, metric(s, "grok1j_prefill_tokens_total"));
            assertEquals(496, metric(s, "grok1j_prefix_cache_hits_total"));
            assertEquals(first.length + second.length, metric(s, "grok1j_prefix_cache_queries_total"));
            assertTrue(metric(s, "grok1j_prefix_cache_blocks") >= 32);
            assertEquals(0, metric(s, "grok1j_prefix_cache_blocks_in_use"));
            // logprobs are the log-softmax of the logits: equal to the last bit at every step, top 5 and chosen
            assertEquals(cold.get("choices").get(0).get("logprobs"), b.get("choices").get(0).get("logprobs"));
            assertEquals(cold.get("choices").get(0).get("text"), b.get("choices").get(0).get("text"));
        }
    }

    static String chat(String system, String user, int maxTokens) {
        ObjectNode o = TestModel.JSON.createObjectNode();
        ArrayNode m = o.putArray("messages");
        m.addObject().put("role", "system").put("content", system);
        m.addObject().put("role", "user").put("content", user);
        o.put("max_tokens", maxTokens).put("temperature", 0).put("logprobs", true).put("top_logprobs", 3);
        return o.toString();
    }

    @Test
    void sixteenConcurrentChatsSharingASystemPromptAnswerAsOneAtATime() throws Exception {
        String system = "You are a careful assistant for a library of old maps. ".repeat(12);
        try (OpenAiServer s = start(ServerConfig.defaults().withParallel(16), 1000)) {
            List<JsonNode> alone = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                alone.add(ok(TestModel.post(s, "/v1/chat/completions", chat(system, "Question number " + i + "?", 6))));
            }
            assertEquals(0, alone.get(0).get("usage").get("prompt_tokens_details").get("cached_tokens").asInt());
            int shared = alone.get(1).get("usage").get("prompt_tokens_details").get("cached_tokens").asInt();
            assertTrue(shared >= 100, "the system prompt is served from the cache: " + shared);
            try (ExecutorService pool = Executors.newFixedThreadPool(16)) {
                List<Future<JsonNode>> together = new ArrayList<>();
                for (int i = 0; i < 16; i++) {
                    String body = chat(system, "Question number " + i + "?", 6);
                    together.add(pool.submit(() -> ok(TestModel.post(s, "/v1/chat/completions", body))));
                }
                for (int i = 0; i < 16; i++) {
                    JsonNode t = together.get(i).get();
                    JsonNode a = alone.get(i);
                    assertEquals(a.get("choices").get(0).get("message").get("content"),
                            t.get("choices").get(0).get("message").get("content"), "choice of request " + i);
                    // the first token comes from the prompt's last position (prompt rows): bit for bit
                    assertEquals(a.get("choices").get(0).get("logprobs").get("content").get(0),
                            t.get("choices").get(0).get("logprobs").get("content").get(0), "first token of request " + i);
                }
            }
        }
    }

    @Test
    void evictionUnderATinyBudgetNeverChangesAnAnswer() throws Exception {
        int[][] stems = {ids(10, 40), ids(11, 56), ids(12, 33)};
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            prompts.add(join(stems[i % 3], ids(100 + i, 3 + 7 * (i % 4)), i % 2 == 0 ? stems[(i + 1) % 3] : new int[0]));
        }
        Map<Integer, JsonNode> expected = new ConcurrentHashMap<>();
        try (OpenAiServer s = start(ServerConfig.defaults(), -1)) {
            for (int i = 0; i < prompts.size(); i++) {
                expected.put(i, ok(TestModel.post(s, "/v1/completions", completion(prompts.get(i), 5, 3))).get("choices").get(0));
            }
        }
        List<int[]> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        try (OpenAiServer s = start(ServerConfig.defaults().withParallel(4), 6)) {
            long end = System.nanoTime() + 15_000_000_000L;
            AtomicInteger done = new AtomicInteger();
            try (ExecutorService pool = Executors.newFixedThreadPool(6)) {
                List<Future<?>> clients = new ArrayList<>();
                for (int c = 0; c < 6; c++) {
                    Random rnd = new Random(c);
                    clients.add(pool.submit(() -> {
                        while (System.nanoTime() < end) {
                            int i = rnd.nextInt(prompts.size());
                            JsonNode got = ok(TestModel.post(s, "/v1/completions", completion(prompts.get(i), 5, 3)));
                            JsonNode want = expected.get(i);
                            JsonNode choice = got.get("choices").get(0);
                            assertEquals(want.get("text"), choice.get("text"), "prompt " + i);
                            // the first token's log-probabilities come from prompt rows: bit for bit
                            assertEquals(want.get("logprobs").get("top_logprobs").get(0),
                                    choice.get("logprobs").get("top_logprobs").get(0), "prompt " + i);
                            seen.add(new int[] {i, got.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt()});
                            done.incrementAndGet();
                        }
                        return null;
                    }));
                }
                for (Future<?> f : clients) {
                    f.get();
                }
            }
            assertTrue(done.get() >= 12, "requests verified: " + done.get());
            assertTrue(metric(s, "grok1j_prefix_cache_evictions_total") > 0);
            assertTrue(metric(s, "grok1j_prefix_cache_blocks") <= 6);
            assertTrue(seen.stream().anyMatch(r -> r[1] > 0), "some requests were served from the cache");
        }
    }
}
