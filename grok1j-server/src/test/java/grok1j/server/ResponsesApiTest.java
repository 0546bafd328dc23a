package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStatus;
import com.openai.models.responses.ResponseStreamEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** POST /v1/responses: the OpenAI Java SDK's responses() client, the event sequence, and what is refused. */
@Timeout(120)
class ResponsesApiTest {
    static final String INSTRUCTIONS = "You are terse.";
    static final String INPUT = "Name a colour.";
    static OpenAiServer server;
    static OpenAIClient openai;
    /** The same conversation through chat completions, greedy: the Responses answers must equal it. */
    static JsonNode chat;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withParallel(2).withQueue(4));
        openai = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl() + "/v1").apiKey("unused").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
        TestModel.Response r = TestModel.post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"system\", \"content\": "
                + TestModel.JSON.valueToTree(INSTRUCTIONS) + "}, {\"role\": \"user\", \"content\": " + TestModel.JSON.valueToTree(INPUT)
                + "}], \"max_tokens\": 6, \"temperature\": 0}");
        assertEquals(200, r.status(), r.body());
        chat = r.json();
    }

    @AfterAll
    static void stop() {
        if (openai != null) {
            openai.close();
        }
        if (server != null) {
            server.close();
        }
    }

    static String chatText() {
        return chat.get("choices").get(0).get("message").get("content").asText();
    }

    static ResponseCreateParams params() {
        return ResponseCreateParams.builder().model("grok-1-tiny").instructions(INSTRUCTIONS).input(INPUT)
                .maxOutputTokens(6).temperature(0.0).store(false).build();
    }

    @Test
    void sdkResponseEqualsTheChatCompletion() {
        Response r = openai.responses().create(params());
        r.validate();
        StringBuilder text = new StringBuilder();
        r.output().forEach(item -> item.message().ifPresent(m -> m.content().forEach(c -> c.outputText().ifPresent(t -> text.append(t.text())))));
        assertEquals(chatText(), text.toString());
        String finish = chat.get("choices").get(0).get("finish_reason").asText();
        assertEquals(finish.equals("length") ? ResponseStatus.INCOMPLETE : ResponseStatus.COMPLETED, r.status().orElseThrow());
        assertEquals(chat.get("usage").get("prompt_tokens").asLong(), r.usage().orElseThrow().inputTokens());
        assertEquals(chat.get("usage").get("completion_tokens").asLong(), r.usage().orElseThrow().outputTokens());
    }

    @Test
    void sdkStreamCarriesTheSameTextInOrder() {
        List<String> types = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        Response[] last = new Response[1];
        try (StreamResponse<ResponseStreamEvent> s = openai.responses().createStreaming(params())) {
            s.stream().forEach(ev -> {
                ev.outputTextDelta().ifPresent(d -> text.append(d.delta()));
                ev.completed().ifPresent(c -> last[0] = c.response());
                ev.incomplete().ifPresent(c -> last[0] = c.response());
                ev.created().ifPresent(c -> types.add("created"));
            });
        }
        assertEquals(List.of("created"), types);
        assertEquals(chatText(), text.toString());
        assertEquals(chat.get("usage").get("completion_tokens").asLong(), last[0].usage().orElseThrow().outputTokens());
    }

    @Test
    void rawEventSequenceWithoutV1AndMessageItems() {
        String body = "{\"model\": \"m\", \"stream\": true, \"max_output_tokens\": 6, \"temperature\": 0, \"store\": true, "
                + "\"input\": [{\"role\": \"system\", \"content\": " + TestModel.JSON.valueToTree(INSTRUCTIONS) + "}, "
                + "{\"type\": \"message\", \"role\": \"user\", \"content\": [{\"type\": \"input_text\", \"text\": "
                + TestModel.JSON.valueToTree(INPUT) + "}]}]}";
        TestModel.Response r = TestModel.post(server, "/responses", body);
        assertEquals(200, r.status(), r.body());
        List<String> types = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        JsonNode last = null;
        int seq = 0;
        for (String block : r.body().split("\n\n")) {
            String[] lines = block.split("\n");
            assertEquals(2, lines.length, block);
            assertTrue(lines[0].startsWith("event: ") && lines[1].startsWith("data: "), block);
            JsonNode j = TestModel.JSON.valueToTree(null);
            try {
                j = TestModel.JSON.readTree(lines[1].substring(6));
            } catch (Exception e) {
                throw new AssertionError(block, e);
            }
            assertEquals(lines[0].substring(7), j.get("type").asText());
            assertEquals(seq++, j.get("sequence_number").asInt());
            types.add(j.get("type").asText());
            if (j.get("type").asText().equals("response.output_text.delta")) {
                text.append(j.get("delta").asText());
            }
            last = j;
        }
        String end = chat.get("choices").get(0).get("finish_reason").asText().equals("length") ? "response.incomplete" : "response.completed";
        assertEquals(List.of("response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"),
                types.subList(0, 4));
        assertEquals(List.of("response.output_text.done", "response.content_part.done", "response.output_item.done", end),
                types.subList(types.size() - 4, types.size()));
        assertTrue(types.subList(4, types.size() - 4).stream().allMatch("response.output_text.delta"::equals), types.toString());
        assertEquals(chatText(), text.toString());
        assertEquals(chatText(), last.get("response").get("output").get(0).get("content").get(0).get("text").asText());
        assertEquals(chat.get("usage").get("prompt_tokens").asInt(), last.get("response").get("usage").get("input_tokens").asInt());
    }

    /** text.format json_schema runs the same constraint as chat's response_format: the output is the document. */
    @Test
    void textFormatJsonSchemaConstrainsTheOutput() throws Exception {
        String schema = "{\"type\": \"object\", \"properties\": {\"answer\": {\"type\": \"integer\"}}, "
                + "\"required\": [\"answer\"], \"additionalProperties\": false}";
        TestModel.Response r = TestModel.post(server, "/v1/responses", "{\"input\": \"The answer is\", \"temperature\": 0, "
                + "\"max_output_tokens\": 40, \"text\": {\"format\": {\"type\": \"json_schema\", \"name\": \"a\", "
                + "\"strict\": true, \"schema\": " + schema + "}}}");
        assertEquals(200, r.status(), r.body());
        String text = r.json().get("output").get(0).get("content").get(0).get("text").asText();
        JsonNode doc = new com.fasterxml.jackson.databind.ObjectMapper().readTree(text);
        assertTrue(doc.isObject() && doc.size() == 1 && doc.get("answer").canConvertToLong(), text);
        assertEquals("completed", r.json().get("status").asText(), r.body());
    }

    @Test
    void whatIsNotSupportedIsRefusedNamingTheField() {
        record Case(String extra, String param) {
        }
        for (Case c : List.of(new Case("\"previous_response_id\": \"resp_1\"", "previous_response_id"),
                new Case("\"text\": {\"format\": {\"type\": \"yaml\"}}", "text.format.type"),
                new Case("\"tools\": [{\"type\": \"function\", \"name\": \"f\", \"parameters\": {}}]", "tools"),
                new Case("\"max_output_tokens\": -1", "max_output_tokens"),
                new Case("\"input\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_image\", \"image_url\": \"x\"}]}]",
                        "input[0].content[0].type"))) {
            String body = "{" + c.extra() + (c.extra().startsWith("\"input\"") ? "" : ", \"input\": \"hi\"") + "}";
            TestModel.Response r = TestModel.post(server, "/v1/responses", body);
            assertEquals(400, r.status(), body + " -> " + r.body());
            JsonNode err = r.json().get("error");
            assertEquals(c.param(), err.get("param").asText(), r.body());
            assertTrue(err.get("message").asText().contains(c.param().replaceAll("\\[.*", "")), r.body());
        }
        // a schema keyword the constraint does not implement is named, in the Responses request's terms
        TestModel.Response bad = TestModel.post(server, "/v1/responses", "{\"input\": \"hi\", \"text\": {\"format\": "
                + "{\"type\": \"json_schema\", \"name\": \"x\", \"schema\": {\"type\": \"string\", \"pattern\": \"a+\"}}}}");
        assertEquals(400, bad.status(), bad.body());
        assertEquals("text.format.schema", bad.json().get("error").get("param").asText(), bad.body());
        assertTrue(bad.json().get("error").get("message").asText().contains("pattern"), bad.body());
        // text.format of type text is what it does anyway
        TestModel.Response ok = TestModel.post(server, "/v1/responses",
                "{\"input\": \"hi\", \"max_output_tokens\": 2, \"text\": {\"format\": {\"type\": \"text\"}}}");
        assertEquals(200, ok.status(), ok.body());
        assertFalse(ok.json().get("output").isEmpty());
    }
}
