package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import grok1j.generate.FinishReason;
import grok1j.generate.GenerationResult;
import grok1j.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A bounded load test on loopback: 32 concurrent streaming requests of mixed prompt and output lengths on 8 slots,
 * some clients hanging up after their first chunk. Every other stream must finish with exactly the greedy output
 * it would get alone, and afterwards nothing may be left running, waiting or holding KV cache.
 */
@Timeout(300)
class LoadTest {
    static final String[] PROMPTS = {
            "Hi",
            "The answer to life the universe and everything is of course",
            "In a hole in the ground there lived a hobbit. Not a nasty, dirty, wet hole, filled with the ends of worms",
            "Java 25 brings virtual threads, the foreign function and memory API and",
    };
    static final int REQUESTS = 32;
    static final int MAX_TOKENS = 12;
    static OpenAiServer server;
    static GenerationResult[] reference = new GenerationResult[PROMPTS.length];

    @BeforeAll
    static void start() throws Exception {
        for (int i = 0; i < PROMPTS.length; i++) {
            reference[i] = TestModel.greedy(PROMPTS[i], MAX_TOKENS);
        }
        server = TestModel.start(ServerConfig.defaults().withParallel(8).withQueue(32));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static boolean hangsUp(int i) {
        return i % 6 == 5;
    }

    /** Greedy text and finish reason of the first {@code k} tokens, from the reference run. */
    static String[] expected(int prompt, int k) {
        Tokenizer tok = TestModel.model().tokenizer();
        GenerationResult r = reference[prompt];
        int n = Math.min(k, r.ids().length);
        boolean stopped = r.finishReason() == FinishReason.STOP && n == r.ids().length;
        int[] p = r.promptIds();
        int[] all = Arrays.copyOf(p, p.length + n);
        System.arraycopy(r.ids(), 0, all, p.length, n);
        return new String[] {tok.decode(all).substring(tok.decode(p).length()), stopped ? "stop" : "length", Integer.toString(n)};
    }

    @Test
    void concurrentStreamsWithHangUps() throws Exception {
        long t0 = System.nanoTime();
        List<Future<String>> results = new ArrayList<>();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < REQUESTS; i++) {
                int id = i;
                results.add(clients.submit(() -> hangsUp(id) ? hangUp(id) : complete(id)));
            }
            for (Future<String> f : results) {
                assertEquals("ok", f.get(240, TimeUnit.SECONDS));
            }
        }
        // no slot, queue place or cache position left behind
        assertEquals(0, TestModel.awaitMetric(server, "grok1j_num_requests_running", 0, Duration.ofSeconds(60)));
        String m = TestModel.get(server, "/metrics").body();
        assertEquals(0, TestModel.metric(m, "grok1j_num_requests_waiting"));
        assertEquals(0, TestModel.metric(m, "grok1j_kv_cache_used_positions"));
        int hangUps = (int) java.util.stream.IntStream.range(0, REQUESTS).filter(LoadTest::hangsUp).count();
        assertEquals(hangUps, TestModel.metric(m, "grok1j_sequences_finished_total{reason=\"cancelled\"}"));
        assertEquals(0, TestModel.metric(m, "grok1j_sequences_finished_total{reason=\"error\"}"));
        assertTrue(server.awaitIdle(Duration.ofSeconds(5)));
        System.out.printf("load test: %d streams in %.1f s, %d forward passes%n", REQUESTS, (System.nanoTime() - t0) / 1e9,
                (long) TestModel.metric(m, "grok1j_batch_steps_total"));
    }

    /** Streams to the end and checks the text, finish reason, framing and (for half) usage. */
    private String complete(int i) {
        int prompt = i % PROMPTS.length;
        int k = 1 + (i * 7) % MAX_TOKENS;
        boolean usage = i % 2 == 0;
        String body = "{\"prompt\": " + TestModel.JSON.valueToTree(PROMPTS[prompt]) + ", \"max_tokens\": " + k
                + ", \"temperature\": 0, \"stream\": true" + (usage ? ", \"stream_options\": {\"include_usage\": true}" : "") + "}";
        TestModel.Response r = TestModel.post(server, "/v1/completions", body);
        assertEquals(200, r.status(), r.body());
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usageChunk = null;
        for (JsonNode ch : TestModel.chunks(r.body())) {
            if (ch.get("choices").isEmpty()) {
                usageChunk = ch.get("usage");
                continue;
            }
            JsonNode c = ch.get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        String[] want = expected(prompt, k);
        assertEquals(want[0], text.toString(), "request " + i);
        assertEquals(want[1], finish, "request " + i);
        if (usage) {
            assertEquals(Integer.parseInt(want[2]), usageChunk.get("completion_tokens").asInt(), "request " + i);
            assertEquals(reference[prompt].promptIds().length, usageChunk.get("prompt_tokens").asInt());
        } else {
            assertEquals(null, usageChunk);
        }
        return "ok";
    }

    /** Asks for a long stream, reads its first chunk and hangs up. */
    private String hangUp(int i) throws Exception {
        String body = "{\"prompt\": " + TestModel.JSON.valueToTree(PROMPTS[i % PROMPTS.length])
                + ", \"max_tokens\": 2000, \"ignore_eos\": true, \"stream\": true}";
        try (SseSocket s = new SseSocket(server, "/v1/completions", body)) {
            assertEquals("HTTP/1.1 200 OK", s.statusLine());
            assertTrue(s.nextData().startsWith("{"));
        }
        return "ok";
    }
}
