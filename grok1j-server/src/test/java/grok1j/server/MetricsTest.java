package grok1j.server;

import static grok1j.server.TestModel.get;
import static grok1j.server.TestModel.metric;
import static grok1j.server.TestModel.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.generate.GenerationResult;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** /metrics: each number moves by what the requests did, on a server of its own (so counts start at zero). */
@Timeout(120)
class MetricsTest {
    static final String PROMPT = "The answer to life the universe and everything is of course";

    @Test
    void countsAndLatenciesFollowTheRequests() throws Exception {
        GenerationResult ref = TestModel.greedy(PROMPT, 6);
        int p = ref.promptIds().length;
        int g = ref.ids().length;
        try (OpenAiServer s = TestModel.start(ServerConfig.defaults().withParallel(2))) {
            String before = get(s, "/metrics").body();
            assertEquals(0, metric(before, "grok1j_prompt_tokens_total"));
            assertEquals(0, metric(before, "grok1j_time_to_first_token_seconds_count"));
            assertEquals(2, metric(before, "grok1j_slots"));

            String body = "{\"prompt\": " + TestModel.JSON.valueToTree(PROMPT) + ", \"max_tokens\": 6, \"temperature\": 0}";
            assertEquals(200, post(s, "/v1/completions", body).status());
            // n = 2: two sequences of one request, each counted
            String two = "{\"prompt\": " + TestModel.JSON.valueToTree(PROMPT)
                    + ", \"max_tokens\": 6, \"temperature\": 0, \"n\": 2}";
            assertEquals(200, post(s, "/v1/completions", two).status());
            assertTrue(s.awaitIdle(Duration.ofSeconds(30)));

            String m = get(s, "/metrics").body();
            assertEquals(3 * p, metric(m, "grok1j_prompt_tokens_total"));
            assertEquals(3 * p, metric(m, "grok1j_prefill_tokens_total"), "no cache: every prompt position computed");
            assertEquals(3 * g, metric(m, "grok1j_generation_tokens_total"));
            String reason = ref.finishReason().apiName();
            assertEquals(3, metric(m, "grok1j_sequences_finished_total{reason=\"" + reason + "\"}"));
            assertEquals(0, metric(m, "grok1j_sequences_finished_total{reason=\"error\"}"));
            for (String h : new String[] {"time_to_first_token", "e2e_request_latency", "request_queue_time",
                    "request_prefill_time", "request_decode_time"}) {
                assertEquals(3, metric(m, "grok1j_" + h + "_seconds_count"), h);
                assertEquals(3, metric(m, "grok1j_" + h + "_seconds_bucket{le=\"+Inf\"}"), h);
            }
            assertEquals(3 * (g - 1), metric(m, "grok1j_inter_token_latency_seconds_count"));
            double ttft = metric(m, "grok1j_time_to_first_token_seconds_sum");
            double queue = metric(m, "grok1j_request_queue_time_seconds_sum");
            double prefill = metric(m, "grok1j_request_prefill_time_seconds_sum");
            double decode = metric(m, "grok1j_request_decode_time_seconds_sum");
            double e2e = metric(m, "grok1j_e2e_request_latency_seconds_sum");
            assertTrue(prefill > 0 && decode > 0, m);
            // first token = queue + prefill; end = first token + decode (same clock readings, up to rounding)
            assertEquals(ttft, queue + prefill, 1e-6);
            assertEquals(e2e, ttft + decode, 1e-6);
            assertTrue(metric(m, "grok1j_batch_steps_total") >= g);
            assertEquals(0, metric(m, "grok1j_num_requests_running"));
            assertEquals(0, metric(m, "grok1j_kv_cache_usage_perc"));
            assertEquals(2L * 8192, metric(m, "grok1j_kv_cache_capacity_positions"));
            assertEquals(0, metric(m, "grok1j_model_load_seconds"));
            assertTrue(metric(m, "grok1j_avg_generation_throughput_toks_per_s") >= 0);
            assertTrue(metric(m, "jvm_threads_current") > 0, "the JVM's own metrics are exported");
            assertTrue(m.contains("# TYPE grok1j_e2e_request_latency_seconds histogram"));
            assertTrue(get(s, "/metrics").raw().headers().firstValue("Content-Type").orElseThrow().startsWith("text/plain"));
        }
    }

    @Test
    void modelLoadTimeIsInSeconds() {
        Metrics m = new Metrics();
        m.modelLoaded(Duration.ofMillis(1500));
        assertEquals(1.5, metric(m.render(), "grok1j_model_load_seconds"));
    }

    @Test
    void throughputIsTokensOverTheLastWholeSeconds() {
        Metrics.Throughput t = new Metrics.Throughput();
        long s0 = 1_000_000L * 1_000_000_000L; // an arbitrary nanoTime, on a second boundary
        t.add(s0 + 100_000_000L, 30);
        t.add(s0 + 900_000_000L, 20);
        assertEquals(0, t.perSecond(s0 + 950_000_000L), "the second in progress is not counted yet");
        t.add(s0 + 1_500_000_000L, 50);
        assertEquals(50.0 / Metrics.THROUGHPUT_WINDOW_SECONDS, t.perSecond(s0 + 1_600_000_000L));
        assertEquals(100.0 / Metrics.THROUGHPUT_WINDOW_SECONDS, t.perSecond(s0 + 2_000_000_000L));
        long w = Metrics.THROUGHPUT_WINDOW_SECONDS * 1_000_000_000L;
        assertEquals(50.0 / Metrics.THROUGHPUT_WINDOW_SECONDS, t.perSecond(s0 + w + 1_000_000_000L), "the first second left");
        assertEquals(0, t.perSecond(s0 + w + 2_000_000_000L));
        // a slot reused a window later starts from zero
        t.add(s0 + w + 2_000_000_000L + 1, 7);
        assertEquals(7.0 / Metrics.THROUGHPUT_WINDOW_SECONDS, t.perSecond(s0 + w + 3_000_000_000L));
    }
}
