package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** One slot and a queue of one: the third request is refused with 429, and a client hanging up frees its slot. */
@Timeout(120)
class QueueAndCancelTest {
    static OpenAiServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withParallel(1).withQueue(1));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void fullQueueIs429AndAHangUpFreesTheSlot() throws Exception {
        // A: a long stream holding the only slot (it would need minutes to finish on its own)
        SseSocket a = new SseSocket(server, "/v1/completions",
                "{\"prompt\": \"Tell me everything\", \"max_tokens\": 4000, \"ignore_eos\": true, \"stream\": true}");
        assertEquals("HTTP/1.1 200 OK", a.statusLine());
        assertNotNull(a.nextData());
        assertEquals(1, TestModel.awaitMetric(server, "grok1j_num_requests_running", 1, Duration.ofSeconds(30)));

        // B: waits in the queue
        HttpRequest b = HttpRequest.newBuilder(URI.create(server.baseUrl() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Short\", \"max_tokens\": 2, \"temperature\": 0}")).build();
        CompletableFuture<HttpResponse<String>> bDone = TestModel.HTTP.sendAsync(b, HttpResponse.BodyHandlers.ofString());
        assertEquals(1, TestModel.awaitMetric(server, "grok1j_num_requests_waiting", 1, Duration.ofSeconds(30)));

        // C: no room
        TestModel.Response c = TestModel.post(server, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1}");
        assertEquals(429, c.status(), c.body());
        assertEquals("queue_full", c.json().get("error").get("code").asText());
        assertTrue(c.raw().headers().firstValue("Retry-After").isPresent());
        assertEquals(1, TestModel.metric(TestModel.get(server, "/metrics").body(), "grok1j_requests_rejected_total"));

        // A hangs up: its slot goes to B at the next step or so
        a.close();
        HttpResponse<String> br = bDone.get(60, TimeUnit.SECONDS);
        assertEquals(200, br.statusCode(), br.body());
        assertEquals(0, TestModel.awaitMetric(server, "grok1j_num_requests_running", 0, Duration.ofSeconds(30)));
        String m = TestModel.get(server, "/metrics").body();
        assertEquals(1, TestModel.metric(m, "grok1j_sequences_finished_total{reason=\"cancelled\"}"));
        assertEquals(0, TestModel.metric(m, "grok1j_kv_cache_used_positions"));
        assertEquals(0, TestModel.metric(m, "grok1j_num_requests_waiting"));
    }
}
