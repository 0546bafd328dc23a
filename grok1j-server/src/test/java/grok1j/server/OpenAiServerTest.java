package grok1j.server;

import static grok1j.server.TestModel.chunks;
import static grok1j.server.TestModel.get;
import static grok1j.server.TestModel.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import grok1j.generate.GenerationResult;
import grok1j.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The HTTP API over raw requests: shapes, streaming framing, stop strings, n, logprobs, errors. */
@Timeout(120)
class OpenAiServerTest {
    static final String PROMPT = "The answer to life the universe and everything is of course";
    static OpenAiServer server;
    static Tokenizer tokenizer;
    static GenerationResult reference;

    @BeforeAll
    static void start() throws Exception {
        tokenizer = TestModel.model().tokenizer();
        reference = TestModel.greedy(PROMPT, 10); // before the server runs anything: one forward pass at a time
        server = TestModel.start(ServerConfig.defaults().withParallel(4).withQueue(16).withMaxBodyBytes(64 * 1024));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static String completion(String extra) {
        return "{\"model\": \"anything\", \"prompt\": " + TestModel.JSON.valueToTree(PROMPT) + ", " + extra + "}";
    }

    @Test
    void healthModelsAndUnknownPaths() {
        assertEquals(200, get(server, "/health").status());
        JsonNode models = get(server, "/v1/models").json();
        assertEquals("list", models.get("object").asText());
        assertEquals("grok-1-tiny", models.get("data").get(0).get("id").asText());
        assertEquals(200, get(server, "/v1/models/grok-1-tiny").status());
        TestModel.Response nf = get(server, "/v1/nothing");
        assertEquals(404, nf.status());
        assertNotNull(nf.json().get("error").get("message"));
        assertEquals(405, get(server, "/v1/completions").status());
    }

    @Test
    void theWebPageIsServedFromTheJar() {
        TestModel.Response page = get(server, "/");
        assertEquals(200, page.status());
        assertTrue(page.raw().headers().firstValue("Content-Type").orElseThrow().startsWith("text/html"));
        assertTrue(page.body().contains("<script src=\"app.js\">"));
        for (String[] f : new String[][] {{"/app.js", "text/javascript"}, {"/app.css", "text/css"}, {"/index.html", "text/html"}}) {
            TestModel.Response r = get(server, f[0]);
            assertEquals(200, r.status(), f[0]);
            assertTrue(r.raw().headers().firstValue("Content-Type").orElseThrow().startsWith(f[1]), f[0]);
        }
        assertEquals(404, get(server, "/app.jsx").status());
        assertEquals(405, post(server, "/", "{}").status());
        assertEquals("grok-1", get(server, "/v1/models").json().get("data").get(0).get("architecture").asText());
    }

    @Test
    void greedyCompletionEqualsTheJavaApi() {
        TestModel.Response r = post(server, "/v1/completions", completion("\"max_tokens\": 10, \"temperature\": 0"));
        assertEquals(200, r.status(), r.body());
        JsonNode j = r.json();
        assertEquals("text_completion", j.get("object").asText());
        assertEquals("grok-1-tiny", j.get("model").asText());
        JsonNode c = j.get("choices").get(0);
        assertEquals(reference.text(), c.get("text").asText());
        assertTrue(c.get("text").asText().startsWith(" "), "the leading space is kept");
        assertEquals(reference.finishReason().apiName(), c.get("finish_reason").asText());
        assertTrue(c.get("logprobs").isNull());
        JsonNode u = j.get("usage");
        assertEquals(reference.promptIds().length, u.get("prompt_tokens").asInt());
        assertEquals(reference.ids().length, u.get("completion_tokens").asInt());
        assertEquals(reference.promptIds().length + reference.ids().length, u.get("total_tokens").asInt());
    }

    @Test
    void streamedCompletionFramingAndUsage() {
        TestModel.Response r = post(server, "/v1/completions",
                completion("\"max_tokens\": 10, \"temperature\": 0, \"stream\": true, \"stream_options\": {\"include_usage\": true}"));
        assertEquals(200, r.status());
        assertTrue(r.raw().headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<JsonNode> chunks = chunks(r.body()); // checks data: framing and the final [DONE]
        StringBuilder text = new StringBuilder();
        int finishes = 0;
        for (int i = 0; i < chunks.size() - 1; i++) {
            JsonNode ch = chunks.get(i);
            assertEquals("text_completion", ch.get("object").asText());
            assertTrue(ch.has("usage") && ch.get("usage").isNull(), "usage: null on content chunks when usage is asked");
            JsonNode c = ch.get("choices").get(0);
            assertEquals(0, c.get("index").asInt());
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) {
                finishes++;
                assertEquals(reference.finishReason().apiName(), c.get("finish_reason").asText());
                assertEquals(chunks.size() - 2, i, "the finish chunk comes last before usage");
            }
        }
        assertEquals(1, finishes);
        assertEquals(reference.text(), text.toString());
        JsonNode last = chunks.getLast();
        assertEquals(0, last.get("choices").size());
        assertEquals(reference.promptIds().length, last.get("usage").get("prompt_tokens").asInt());
        assertEquals(reference.ids().length, last.get("usage").get("completion_tokens").asInt());

        // without include_usage: no usage anywhere
        TestModel.Response r2 = post(server, "/v1/completions", completion("\"max_tokens\": 3, \"temperature\": 0, \"stream\": true"));
        for (JsonNode ch : chunks(r2.body())) {
            assertFalse(ch.has("usage"));
            assertEquals(1, ch.get("choices").size());
        }
    }

    @Test
    void stopStringAcrossATokenBoundaryIsNeverEmitted() {
        // token boundaries of the greedy continuation
        int[] p = reference.promptIds();
        int[] ids = reference.ids();
        String full = reference.text();
        int[] ends = new int[ids.length];
        String promptText = tokenizer.decode(p);
        for (int k = 1; k <= ids.length; k++) {
            int[] all = Arrays.copyOf(p, p.length + k);
            System.arraycopy(ids, 0, all, p.length, k);
            ends[k - 1] = tokenizer.decode(all).length() - promptText.length();
        }
        String stop = null;
        for (int k = 1; k < ids.length - 1 && stop == null; k++) {
            int b = ends[k - 1];
            if (b >= 2 && b + 2 <= full.length()) {
                String cand = full.substring(b - 2, b + 2);
                int at = full.indexOf(cand);
                for (int e : ends) {
                    if (at < e && e < at + cand.length() && at > 0) {
                        stop = cand; // its first occurrence spans a token boundary and is not at the very start
                    }
                }
            }
        }
        assertNotNull(stop, "no stop candidate in " + full);
        String expected = full.substring(0, full.indexOf(stop));
        String body = completion("\"max_tokens\": 10, \"temperature\": 0, \"stop\": [\"never-there\", " + TestModel.JSON.valueToTree(stop) + "]");
        JsonNode c = post(server, "/v1/completions", body).json().get("choices").get(0);
        assertEquals(expected, c.get("text").asText());
        assertEquals("stop", c.get("finish_reason").asText());

        String streamed = body.substring(0, body.length() - 1) + ", \"stream\": true}";
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (JsonNode ch : chunks(post(server, "/v1/completions", streamed).body())) {
            JsonNode cc = ch.get("choices").get(0);
            text.append(cc.get("text").asText());
            assertFalse(text.toString().contains(stop.substring(0, 1)) && !expected.startsWith(text.toString()),
                    "streamed text left the expected prefix: " + text);
            if (!cc.get("finish_reason").isNull()) {
                finish = cc.get("finish_reason").asText();
            }
        }
        assertEquals(expected, text.toString());
        assertEquals("stop", finish);
    }

    @Test
    void severalChoicesWithASeed() {
        String base = "\"max_tokens\": 6, \"temperature\": 1.0, \"top_k\": 50, \"seed\": 1234";
        JsonNode three = post(server, "/v1/completions", completion(base + ", \"n\": 3")).json();
        JsonNode one = post(server, "/v1/completions", completion(base)).json();
        JsonNode cs = three.get("choices");
        assertEquals(3, cs.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(i, cs.get(i).get("index").asInt());
        }
        assertEquals(one.get("choices").get(0).get("text").asText(), cs.get(0).get("text").asText(),
                "choice 0 of a seeded request equals the same request with n = 1");
        assertEquals(reference.promptIds().length, three.get("usage").get("prompt_tokens").asInt(), "the prompt counts once");
        assertTrue(three.get("usage").get("completion_tokens").asInt() >= 3);

        // streamed: chunks of both choices, each finishing once
        TestModel.Response r = post(server, "/v1/completions", completion(base + ", \"n\": 2, \"stream\": true"));
        Map<Integer, StringBuilder> texts = new HashMap<>();
        Map<Integer, Integer> finishes = new HashMap<>();
        for (JsonNode ch : chunks(r.body())) {
            JsonNode c = ch.get("choices").get(0);
            int idx = c.get("index").asInt();
            texts.computeIfAbsent(idx, k -> new StringBuilder()).append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) {
                finishes.merge(idx, 1, Integer::sum);
            }
        }
        assertEquals(Map.of(0, 1, 1, 1), finishes);
        assertEquals(cs.get(0).get("text").asText(), texts.get(0).toString());
        assertEquals(cs.get(1).get("text").asText(), texts.get(1).toString());
    }

    @Test
    void completionLogprobsAreSortedAndNonPositive() {
        JsonNode j = post(server, "/v1/completions", completion("\"max_tokens\": 4, \"temperature\": 0, \"logprobs\": 3")).json();
        JsonNode c = j.get("choices").get(0);
        JsonNode lp = c.get("logprobs");
        int n = j.get("usage").get("completion_tokens").asInt();
        assertEquals(n, lp.get("tokens").size());
        assertEquals(n, lp.get("token_logprobs").size());
        assertEquals(n, lp.get("top_logprobs").size());
        assertEquals(n, lp.get("text_offset").size());
        for (int i = 0; i < n; i++) {
            double chosen = lp.get("token_logprobs").get(i).asDouble();
            assertTrue(chosen <= 0, "logprob " + chosen);
            JsonNode top = lp.get("top_logprobs").get(i);
            assertTrue(top.size() >= 1 && top.size() <= 4, top.toString());
            double prev = 0;
            boolean first = true;
            for (var it = top.fields(); it.hasNext(); ) {
                double v = it.next().getValue().asDouble();
                assertTrue(v <= 0);
                assertTrue(first || v <= prev, "sorted: " + top);
                if (first) {
                    assertEquals(v, chosen, 1e-6, "greedy picks the most likely token");
                }
                prev = v;
                first = false;
            }
        }
    }

    @Test
    void chatLogprobsAreSortedAndNonPositive() {
        JsonNode j = post(server, "/v1/chat/completions", """
                {"model": "x", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 3, "temperature": 0,
                 "logprobs": true, "top_logprobs": 2}""").json();
        JsonNode c = j.get("choices").get(0);
        assertEquals("assistant", c.get("message").get("role").asText());
        JsonNode content = c.get("logprobs").get("content");
        assertEquals(j.get("usage").get("completion_tokens").asInt(), content.size());
        for (JsonNode t : content) {
            assertTrue(t.get("logprob").asDouble() <= 0);
            assertTrue(t.get("bytes").isArray());
            JsonNode top = t.get("top_logprobs");
            assertEquals(2, top.size());
            assertTrue(top.get(0).get("logprob").asDouble() >= top.get(1).get("logprob").asDouble());
            assertTrue(top.get(0).get("logprob").asDouble() <= 0);
            assertEquals(top.get(0).get("logprob").asDouble(), t.get("logprob").asDouble(), 1e-6);
        }
    }

    @Test
    void echoWithLogprobsScoresThePrompt() {
        // generate two greedy tokens with their log-probabilities...
        JsonNode gen = post(server, "/v1/completions", completion("\"max_tokens\": 2, \"temperature\": 0, \"logprobs\": 2")).json();
        JsonNode genLp = gen.get("choices").get(0).get("logprobs").get("token_logprobs");
        // ...then score prompt + those tokens without generating: the last two prompt tokens get the same values
        int[] p = reference.promptIds();
        int[] ids = Arrays.copyOf(p, p.length + 2);
        System.arraycopy(reference.ids(), 0, ids, p.length, 2);
        TestModel.Response r = post(server, "/v1/completions", "{\"prompt\": " + Arrays.toString(ids)
                + ", \"max_tokens\": 0, \"echo\": true, \"logprobs\": 2}");
        assertEquals(200, r.status(), r.body());
        JsonNode c = r.json().get("choices").get(0);
        assertEquals(tokenizer.decode(ids), c.get("text").asText());
        JsonNode lp = c.get("logprobs");
        assertEquals(ids.length, lp.get("tokens").size());
        assertTrue(lp.get("token_logprobs").get(0).isNull());
        assertTrue(lp.get("top_logprobs").get(0).isNull());
        for (int i = 1; i < ids.length; i++) {
            assertTrue(lp.get("token_logprobs").get(i).asDouble() <= 0);
            assertTrue(lp.get("top_logprobs").get(i).size() <= 3);
        }
        assertEquals(genLp.get(0).asDouble(), lp.get("token_logprobs").get(ids.length - 2).asDouble(), 1e-4);
        assertEquals(genLp.get(1).asDouble(), lp.get("token_logprobs").get(ids.length - 1).asDouble(), 1e-4);
        assertEquals(0, lp.get("text_offset").get(0).asInt());

        // streamed with a continuation: the echo chunk carries the prompt's log-probabilities, then the new tokens
        TestModel.Response s = post(server, "/v1/completions", completion("\"max_tokens\": 2, \"temperature\": 0, \"logprobs\": 1, \"echo\": true, \"stream\": true"));
        List<JsonNode> chunks = chunks(s.body());
        JsonNode first = chunks.getFirst().get("choices").get(0);
        assertEquals(PROMPT, first.get("text").asText());
        assertEquals(p.length, first.get("logprobs").get("tokens").size());
        StringBuilder text = new StringBuilder();
        int tokens = 0;
        for (JsonNode ch : chunks) {
            text.append(ch.get("choices").get(0).get("text").asText());
            tokens += ch.get("choices").get(0).get("logprobs").get("tokens").size();
        }
        assertEquals(p.length + 2, tokens);
        assertTrue(text.toString().startsWith(PROMPT + " "));
    }

    @Test
    void badRequestsAre400WithTheOpenAiErrorBody() {
        TestModel.Response r = post(server, "/v1/completions", completion("\"temperature\": \"hot\""));
        assertEquals(400, r.status());
        JsonNode err = r.json().get("error");
        assertEquals("temperature", err.get("param").asText());
        assertEquals("invalid_request_error", err.get("type").asText());
        assertTrue(err.has("code"));

        TestModel.Response tooLong = post(server, "/v1/completions", completion("\"max_tokens\": 9000"));
        assertEquals(400, tooLong.status());
        String msg = tooLong.json().get("error").get("message").asText();
        assertTrue(msg.contains(reference.promptIds().length + " tokens") && msg.contains("9000") && msg.contains("8192"), msg);
        assertEquals("max_tokens", tooLong.json().get("error").get("param").asText());

        assertEquals(400, post(server, "/v1/completions", "{not json").status());
        assertEquals(400, post(server, "/v1/completions", "[1, 2]").status());
        TestModel.Response trailing = post(server, "/v1/completions", completion("\"max_tokens\": 1") + "{}");
        assertEquals(400, trailing.status(), trailing.body());
        assertTrue(trailing.json().get("error").get("message").asText().startsWith("the body has data after the JSON document"),
                trailing.body());
        assertEquals("messages", post(server, "/v1/chat/completions", "{\"prompt\": \"x\"}").json().get("error").get("param").asText());
        assertEquals("n", post(server, "/v1/completions", completion("\"n\": 0")).json().get("error").get("param").asText());
        TestModel.Response big = post(server, "/v1/completions", completion("\"pad\": \"" + "x".repeat(70_000) + "\""));
        assertEquals(413, big.status());
        assertNotNull(big.json().get("error"));
    }

    @Test
    void resultsDoNotDependOnTheBatch() throws Exception {
        String seeded = completion("\"max_tokens\": 8, \"temperature\": 0.9, \"seed\": 7, \"ignore_eos\": true");
        String alone = post(server, "/v1/completions", seeded).json().get("choices").get(0).get("text").asText();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<TestModel.Response>> others = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                String other = "{\"prompt\": \"Other prompt number " + i + " is longer than the first one\", \"max_tokens\": " + (4 + 3 * i)
                        + ", \"temperature\": 1.0, \"stream\": true}";
                others.add(pool.submit(() -> post(server, "/v1/completions", other)));
            }
            Future<TestModel.Response> again = pool.submit(() -> post(server, "/v1/completions", seeded));
            assertEquals(alone, again.get().json().get("choices").get(0).get("text").asText());
            for (Future<TestModel.Response> f : others) {
                assertEquals(200, f.get().status());
            }
        }
    }

    @Test
    void echoPrependsThePrompt() {
        JsonNode c = post(server, "/v1/completions", completion("\"max_tokens\": 3, \"temperature\": 0, \"echo\": true"))
                .json().get("choices").get(0);
        int[] p = reference.promptIds();
        int[] all = Arrays.copyOf(p, p.length + 3);
        System.arraycopy(reference.ids(), 0, all, p.length, 3);
        String continuation = tokenizer.decode(all).substring(tokenizer.decode(p).length());
        assertEquals(PROMPT + continuation, c.get("text").asText());
        // max_tokens 0 with echo: just the prompt
        JsonNode z = post(server, "/v1/completions", completion("\"max_tokens\": 0, \"echo\": true")).json();
        assertEquals(PROMPT, z.get("choices").get(0).get("text").asText());
        assertEquals("length", z.get("choices").get(0).get("finish_reason").asText());
        assertEquals(0, z.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void tokenPromptsTokenizeAndDetokenize() {
        JsonNode t = post(server, "/tokenize", "{\"prompt\": " + TestModel.JSON.valueToTree(PROMPT) + "}").json();
        assertEquals(reference.promptIds().length, t.get("count").asInt());
        assertEquals(8192, t.get("max_model_len").asInt());
        JsonNode d = post(server, "/detokenize", "{\"tokens\": " + t.get("tokens") + "}").json();
        assertEquals(PROMPT, d.get("prompt").asText());
        assertEquals("tokens", post(server, "/detokenize", "{\"tokens\": [-1]}").json().get("error").get("param").asText());
        // a prompt given as token ids continues exactly like the text
        JsonNode c = post(server, "/v1/completions", "{\"prompt\": " + t.get("tokens") + ", \"max_tokens\": 10, \"temperature\": 0}").json();
        assertEquals(reference.text(), c.get("choices").get(0).get("text").asText());
    }

    @Test
    void streamedChatFraming() {
        TestModel.Response r = post(server, "/v1/chat/completions", """
                {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4, "temperature": 0, "stream": true,
                 "stream_options": {"include_usage": true}}""");
        List<JsonNode> chunks = chunks(r.body());
        JsonNode first = chunks.getFirst().get("choices").get(0);
        assertEquals("assistant", first.get("delta").get("role").asText());
        StringBuilder text = new StringBuilder();
        for (JsonNode ch : chunks.subList(0, chunks.size() - 1)) {
            assertEquals("chat.completion.chunk", ch.get("object").asText());
            JsonNode d = ch.get("choices").get(0).get("delta");
            if (d.has("content")) {
                text.append(d.get("content").asText());
            }
        }
        JsonNode finish = chunks.get(chunks.size() - 2).get("choices").get(0);
        assertFalse(finish.get("finish_reason").isNull());
        JsonNode usage = chunks.getLast().get("usage");
        assertEquals(usage.get("prompt_tokens").asInt() + usage.get("completion_tokens").asInt(), usage.get("total_tokens").asInt());
        JsonNode plain = post(server, "/v1/chat/completions", """
                {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4, "temperature": 0}""").json();
        assertEquals(plain.get("choices").get(0).get("message").get("content").asText(), text.toString());
        assertEquals("chat.completion", plain.get("object").asText());
    }

    @Test
    void metricsAreAfterRequestsPrometheusText() throws Exception {
        post(server, "/v1/completions", completion("\"max_tokens\": 2, \"temperature\": 0"));
        assertTrue(server.awaitIdle(Duration.ofSeconds(30)));
        String m = get(server, "/metrics").body();
        assertEquals(0, TestModel.metric(m, "grok1j_num_requests_running"));
        assertEquals(0, TestModel.metric(m, "grok1j_num_requests_waiting"));
        assertTrue(TestModel.metric(m, "grok1j_generation_tokens_total") >= 2);
        assertTrue(TestModel.metric(m, "grok1j_prompt_tokens_total") >= reference.promptIds().length);
        assertTrue(TestModel.metric(m, "grok1j_time_to_first_token_seconds_count") >= 1);
        assertTrue(m.contains("# TYPE grok1j_inter_token_latency_seconds histogram"));
        assertTrue(m.contains("grok1j_time_to_first_token_seconds_bucket{le=\"+Inf\"}"));
        assertTrue(TestModel.metric(m, "grok1j_kv_cache_capacity_positions") == 4 * 8192);
    }
}
