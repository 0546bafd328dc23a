package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.TokenListener;
import grok1j.model.Model;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The tiny fixture model, opened once per test JVM, and small HTTP helpers. A model's forward pass is not
 * thread-safe: tests run one server at a time and compute reference outputs only while no request is in flight.
 */
final class TestModel {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private static Model model;

    private TestModel() {
    }

    static Path tiny() {
        return Path.of(System.getProperty("grok1j.shared", "../shared")).resolve("fixtures/grok-1-tiny");
    }

    static synchronized Model model() {
        if (model == null) {
            try {
                model = Model.open(tiny());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            // warm the kernels up once so that the first test's timings are not all JIT
            model.newContext().generate("warm up", SamplingParams.greedy(4), TokenListener.NONE);
        }
        return model;
    }

    /** A server on a free loopback port serving the tiny model. */
    static OpenAiServer start(ServerConfig config) throws IOException {
        return OpenAiServer.start(config.withHost("127.0.0.1").withPort(0).withModelId("grok-1-tiny"), model());
    }

    /** Greedy reference through the Java API, as {@code grok1j generate --temperature 0} runs it. */
    static GenerationResult greedy(String prompt, int maxTokens) {
        return model().newContext().generate(prompt, SamplingParams.greedy(maxTokens), TokenListener.NONE);
    }

    record Response(int status, String body, HttpResponse<String> raw) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + body, e);
            }
        }
    }

    static Response post(OpenAiServer s, String path, String body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return send(b.build());
    }

    static Response get(OpenAiServer s, String path, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).timeout(Duration.ofSeconds(30)).GET();
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return send(b.build());
    }

    private static Response send(HttpRequest r) {
        try {
            HttpResponse<String> resp = HTTP.send(r, HttpResponse.BodyHandlers.ofString());
            return new Response(resp.statusCode(), resp.body(), resp);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * Splits an SSE body into its {@code data:} payloads, checking the framing: every event is exactly one
     * {@code data: } line followed by a blank line, and the last one is {@code [DONE]}. Keep-alive comments (sent
     * after {@code --keep-alive} seconds of silence, e.g. a slow first token on a loaded machine) are skipped, as SSE
     * clients do.
     */
    static List<String> sse(String body) {
        body = body.replace(": keep-alive\n\n", "");
        if (!body.endsWith("data: [DONE]\n\n")) {
            throw new AssertionError("the stream does not end with data: [DONE]: ..." + body.substring(Math.max(0, body.length() - 200)));
        }
        List<String> out = new ArrayList<>();
        for (String block : body.substring(0, body.length() - 2).split("\n\n", -1)) {
            if (!block.startsWith("data: ") || block.indexOf('\n') >= 0) {
                throw new AssertionError("bad SSE event: [" + block + "]");
            }
            out.add(block.substring(6));
        }
        return out;
    }

    /** The JSON chunks of an SSE body (all events but the final [DONE]). */
    static List<JsonNode> chunks(String body) {
        List<String> events = sse(body);
        List<JsonNode> out = new ArrayList<>();
        for (int i = 0; i < events.size() - 1; i++) {
            try {
                out.add(JSON.readTree(events.get(i)));
            } catch (IOException e) {
                throw new AssertionError("event is not JSON: " + events.get(i), e);
            }
        }
        return out;
    }

    /** Polls /metrics until {@code name} has value {@code expected}; returns the last value seen. */
    static double awaitMetric(OpenAiServer s, String name, double expected, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        double v;
        do {
            v = metric(get(s, "/metrics").body(), name);
            if (v == expected) {
                return v;
            }
            Thread.sleep(20);
        } while (System.nanoTime() < end);
        return v;
    }

    /** The value of an unlabelled (or fully labelled) sample in Prometheus text. */
    static double metric(String text, String name) {
        for (String line : text.split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1).trim());
            }
        }
        throw new AssertionError("no metric " + name + " in\n" + text);
    }
}
