package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** 503 until the model is ready; graceful shutdown cancels what cannot finish and closes every stream properly. */
@Timeout(120)
class LifecycleTest {

    @Test
    void unavailableUntilReady() throws Exception {
        OpenAiServer s = OpenAiServer.start(ServerConfig.defaults().withPort(0));
        try {
            TestModel.Response h = TestModel.get(s, "/health");
            assertEquals(503, h.status());
            assertEquals("model_loading", h.json().get("error").get("code").asText());
            assertEquals(503, TestModel.post(s, "/v1/completions", "{\"prompt\": \"x\"}").status());
            assertEquals(200, TestModel.get(s, "/metrics").status());
            s.ready(TestModel.model());
            assertEquals(200, TestModel.get(s, "/health").status());
        } finally {
            s.close();
        }
        assertThrows(IOException.class, () -> TestModel.HTTP.send(HttpRequest.newBuilder(URI.create(s.baseUrl() + "/health")).build(),
                HttpResponse.BodyHandlers.ofString()));
    }

    @Test
    void gracefulShutdownEndsRunningStreamsAndRefusesNewWork() throws Exception {
        OpenAiServer s = TestModel.start(ServerConfig.defaults().withParallel(1).withQueue(2).withShutdownGrace(Duration.ofMillis(500)));
        String longStream = "{\"prompt\": \"Go on\", \"max_tokens\": 4000, \"ignore_eos\": true, \"stream\": true}";
        HttpRequest r = HttpRequest.newBuilder(URI.create(s.baseUrl() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(longStream)).build();
        CompletableFuture<HttpResponse<String>> running = TestModel.HTTP.sendAsync(r, HttpResponse.BodyHandlers.ofString());
        assertEquals(1, TestModel.awaitMetric(s, "grok1j_num_requests_running", 1, Duration.ofSeconds(20)));
        HttpRequest q = HttpRequest.newBuilder(URI.create(s.baseUrl() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Queued\", \"max_tokens\": 3}")).build();
        CompletableFuture<HttpResponse<String>> queued = TestModel.HTTP.sendAsync(q, HttpResponse.BodyHandlers.ofString());
        assertEquals(1, TestModel.awaitMetric(s, "grok1j_num_requests_waiting", 1, Duration.ofSeconds(20)));

        long t0 = System.nanoTime();
        s.close();
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30));

        // the queued request was refused, the running stream was cancelled after the grace period with an error event
        HttpResponse<String> qr = queued.get(10, TimeUnit.SECONDS);
        assertEquals(503, qr.statusCode(), qr.body());
        HttpResponse<String> rr = running.get(10, TimeUnit.SECONDS);
        assertEquals(200, rr.statusCode());
        List<String> events = TestModel.sse(rr.body());
        JsonNode last = TestModel.JSON.readTree(events.get(events.size() - 2));
        assertNotNull(last.get("error"), last.toString());
        assertEquals("shutting_down", last.get("error").get("code").asText());
    }
}
