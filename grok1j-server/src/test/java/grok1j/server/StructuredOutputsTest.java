package grok1j.server;

import static grok1j.server.TestModel.chunks;
import static grok1j.server.TestModel.post;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import grok1j.generate.GenerationResult;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code response_format}, the logit fields and the refused fields over HTTP, on the tiny model. */
@Timeout(300)
class StructuredOutputsTest {
    static final String SCHEMA = """
            {"type":"object","properties":{"city":{"type":"string","maxLength":12},"rain":{"type":"boolean"},
             "days":{"type":"array","items":{"type":"integer"},"maxItems":3}},"required":["city","rain"],
             "additionalProperties":false}""";
    static final Schema VALIDATOR = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(SCHEMA);
    static OpenAiServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withParallel(4).withQueue(16));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static String chat(String extra) {
        return "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Weather in Paris?\"}], " + extra + "}";
    }

    static String jsonSchemaFormat() {
        return "\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"weather\", \"strict\": true, \"schema\": "
                + SCHEMA + "}}";
    }

    static void assertValid(String text) throws Exception {
        JsonNode doc = TestModel.JSON.readTree(text);
        assertTrue(VALIDATOR.validate(doc).isEmpty(), () -> text + ": " + VALIDATOR.validate(doc));
    }

    @Test
    void jsonSchemaChoicesValidateAndStreamTheSame() throws Exception {
        String body = chat(jsonSchemaFormat() + ", \"n\": 3, \"seed\": 11, \"temperature\": 1, \"max_tokens\": 40");
        TestModel.Response r = post(server, "/v1/chat/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode choices = r.json().get("choices");
        assertEquals(3, choices.size());
        String[] texts = new String[3];
        for (JsonNode c : choices) {
            texts[c.get("index").asInt()] = c.get("message").get("content").asText();
            assertValid(c.get("message").get("content").asText());
            assertEquals("stop", c.get("finish_reason").asText());
        }
        TestModel.Response s = post(server, "/v1/chat/completions", body.replace("\"n\": 3", "\"n\": 3, \"stream\": true"));
        StringBuilder[] streamed = {new StringBuilder(), new StringBuilder(), new StringBuilder()};
        for (JsonNode chunk : chunks(s.body())) {
            for (JsonNode c : chunk.path("choices")) {
                JsonNode content = c.path("delta").get("content");
                if (content != null && content.isTextual()) {
                    streamed[c.get("index").asInt()].append(content.asText());
                }
            }
        }
        for (int i = 0; i < 3; i++) {
            assertEquals(texts[i], streamed[i].toString());
        }
    }

    @Test
    void jsonObjectOnCompletions() throws Exception {
        TestModel.Response r = post(server, "/v1/completions", "{\"prompt\": \"Data:\", \"max_tokens\": 30, \"seed\": 3,"
                + " \"temperature\": 1, \"response_format\": {\"type\": \"json_object\"}}");
        assertEquals(200, r.status(), r.body());
        assertTrue(TestModel.JSON.readTree(r.json().get("choices").get(0).get("text").asText()).isObject(), r.body());
    }

    @Test
    void constrainedAndPlainRequestsShareTheBatch() throws Exception {
        GenerationResult plain = TestModel.greedy("Weather:", 12);
        List<CompletableFuture<TestModel.Response>> fs = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            fs.add(CompletableFuture.supplyAsync(() -> post(server, "/v1/completions",
                    "{\"prompt\": \"Weather:\", \"max_tokens\": 12, \"temperature\": 0, \"ignore_eos\": true}")));
            fs.add(CompletableFuture.supplyAsync(() -> post(server, "/v1/completions",
                    "{\"prompt\": \"Weather:\", \"max_tokens\": 40, \"temperature\": 0, " + jsonSchemaFormat() + "}")));
        }
        for (int i = 0; i < fs.size(); i++) {
            TestModel.Response r = fs.get(i).get();
            assertEquals(200, r.status(), r.body());
            String text = r.json().get("choices").get(0).get("text").asText();
            if (i % 2 == 0) {
                assertEquals(plain.text(), text);
            } else {
                assertValid(text);
            }
        }
    }

    @Test
    void schemaIsShownToTheModelInTheChatPrompt() {
        TestModel.Response r = post(server, "/tokenize", chat(jsonSchemaFormat()));
        assertEquals(200, r.status(), r.body());
        String prompt = TestModel.model().tokenizer().decode(TestModel.JSON.convertValue(r.json().get("tokens"), int[].class));
        assertTrue(prompt.contains("Reply with a JSON weather that matches this JSON schema: {\"type\":\"object\""), prompt);
        assertTrue(prompt.endsWith("Assistant:"), prompt);
    }

    @Test
    void unsupportedKeywordIsA400NamingIt() {
        TestModel.Response r = post(server, "/v1/chat/completions", chat("\"response_format\": {\"type\": \"json_schema\","
                + " \"json_schema\": {\"name\": \"x\", \"schema\": {\"type\": \"string\", \"pattern\": \"^a$\"}}}"));
        assertEquals(400, r.status(), r.body());
        JsonNode e = r.json().get("error");
        assertTrue(e.get("message").asText().contains("\"pattern\""), r.body());
        assertEquals("response_format.json_schema.schema", e.get("param").asText());
        assertEquals(400, post(server, "/v1/chat/completions", chat("\"response_format\": {\"type\": \"yaml\"}")).status());
    }

    @Test
    void logitBiasAndPenaltiesAreApplied() {
        String base = "{\"prompt\": \"Weather:\", \"max_tokens\": 1, \"temperature\": 0, \"logprobs\": 0";
        TestModel.Response plain = post(server, "/v1/completions", base + "}");
        assertEquals(200, plain.status(), plain.body());
        String first = plain.json().get("choices").get(0).get("text").asText();
        int[] ids = TestModel.greedy("Weather:", 1).ids();
        TestModel.Response biased = post(server, "/v1/completions", base + ", \"logit_bias\": {\"" + ids[0] + "\": -100}}");
        assertEquals(200, biased.status(), biased.body());
        assertNotEquals(first, biased.json().get("choices").get(0).get("text").asText());
        TestModel.Response penalised = post(server, "/v1/completions", base.replace("\"max_tokens\": 1", "\"max_tokens\": 6")
                + ", \"presence_penalty\": 1.5, \"frequency_penalty\": 0.5, \"repetition_penalty\": 1.3}");
        assertEquals(200, penalised.status(), penalised.body());
        assertArrayEquals(new int[] {400, 400, 400}, new int[] {
                post(server, "/v1/completions", base + ", \"presence_penalty\": 2.5}").status(),
                post(server, "/v1/completions", base + ", \"logit_bias\": {\"abc\": 1}}").status(),
                post(server, "/v1/completions", base + ", \"repetition_penalty\": 0}").status()});
    }

    @Test
    void fieldsThatWouldChangeTheOutputAreRefusedByName() {
        String base = "{\"prompt\": \"Weather:\", \"max_tokens\": 1";
        for (String[] f : new String[][] {{"suffix", "\"suffix\": \"end\""}, {"best_of", "\"best_of\": 3"},
                {"tools", "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]"}, {"tool_choice", "\"tool_choice\": \"required\""}}) {
            TestModel.Response r = post(server, "/v1/completions", base + ", " + f[1] + "}");
            assertEquals(400, r.status(), r.body());
            assertEquals(f[0], r.json().get("error").get("param").asText(), r.body());
        }
        assertEquals(200, post(server, "/v1/completions", base + ", \"best_of\": 1, \"suffix\": \"\"}").status());
    }
}
