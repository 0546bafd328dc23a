package grok1j.server;

import static grok1j.server.TestModel.chunks;
import static grok1j.server.TestModel.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code tools} and {@code tool_choice} over HTTP on the tiny model (random weights: any valid call will do). */
@Timeout(300)
class ToolsTest {
    static final String WEATHER = """
            {"type":"object","properties":{"city":{"type":"string","maxLength":10},
             "unit":{"enum":["celsius","fahrenheit"]}},"required":["city"],"additionalProperties":false}""";
    static final String TIME = """
            {"$defs":{"zone":{"type":"string","maxLength":6}},"type":"object",
             "properties":{"zone":{"$ref":"#/$defs/zone"}},"required":["zone"],"additionalProperties":false}""";
    static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    static final Map<String, Schema> VALIDATORS = Map.of("get_weather", REGISTRY.getSchema(WEATHER),
            "get_time", REGISTRY.getSchema(TIME));
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

    static String tools() {
        return "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather of a city\","
                + " \"parameters\": " + WEATHER + "}}, {\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": "
                + TIME + "}}]";
    }

    static String chat(String extra) {
        return "{\"messages\": [{\"role\": \"user\", \"content\": \"Weather in Paris?\"}], " + tools() + ", " + extra + "}";
    }

    /** Checks a call's name and that its arguments (a JSON string) validate against the function's schema. */
    static void assertValidCall(String name, String arguments) throws Exception {
        Schema v = VALIDATORS.get(name);
        assertNotNull(v, "unknown function " + name);
        JsonNode args = TestModel.JSON.readTree(arguments);
        assertTrue(v.validate(args).isEmpty(), () -> name + " " + arguments + ": " + v.validate(args));
    }

    @Test
    void requiredCallsValidateAndStreamTheSame() throws Exception {
        String body = chat("\"tool_choice\": \"required\", \"max_tokens\": 60, \"n\": 3, \"seed\": 7, \"temperature\": 1");
        TestModel.Response r = post(server, "/v1/chat/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode j = TestModel.JSON.readTree(r.body());
        Map<Integer, String> whole = new HashMap<>();
        for (JsonNode c : j.get("choices")) {
            JsonNode m = c.get("message");
            assertEquals("tool_calls", c.get("finish_reason").asText(), c.toString());
            assertTrue(m.get("content").isNull());
            JsonNode calls = m.get("tool_calls");
            assertTrue(calls.size() >= 1);
            Set<String> ids = new HashSet<>();
            for (JsonNode call : calls) {
                assertTrue(call.get("id").asText().startsWith("call_"));
                assertTrue(ids.add(call.get("id").asText()));
                assertEquals("function", call.get("type").asText());
                assertValidCall(call.at("/function/name").asText(), call.at("/function/arguments").asText());
            }
            whole.put(c.get("index").asInt(), names(calls) + arguments(calls));
        }
        // streamed: the same calls, arguments in fragments, the first delta of a call carrying id, type and name
        TestModel.Response s = post(server, "/v1/chat/completions", body.replace("\"n\": 3", "\"n\": 3, \"stream\": true"));
        Map<Integer, Map<Integer, String[]>> streamed = new HashMap<>();
        Map<Integer, String> finish = new HashMap<>();
        for (JsonNode ch : chunks(s.body())) {
            for (JsonNode c : ch.get("choices")) {
                int index = c.get("index").asInt();
                if (!c.get("finish_reason").isNull()) {
                    finish.put(index, c.get("finish_reason").asText());
                }
                JsonNode tcs = c.path("delta").path("tool_calls");
                for (JsonNode tc : tcs) {
                    Map<Integer, String[]> calls = streamed.computeIfAbsent(index, k -> new HashMap<>());
                    int i = tc.get("index").asInt();
                    if (tc.has("id")) {
                        assertEquals("function", tc.get("type").asText());
                        calls.put(i, new String[] {tc.at("/function/name").asText(), ""});
                    }
                    calls.get(i)[1] += tc.at("/function/arguments").asText();
                }
            }
        }
        for (int index = 0; index < 3; index++) {
            assertEquals("tool_calls", finish.get(index));
            StringBuilder n = new StringBuilder();
            StringBuilder a = new StringBuilder();
            for (int i = 0; i < streamed.get(index).size(); i++) {
                n.append(streamed.get(index).get(i)[0]).append(';');
                a.append(streamed.get(index).get(i)[1]).append(';');
            }
            assertEquals(whole.get(index), n.toString() + a);
        }
    }

    static String names(JsonNode calls) {
        StringBuilder b = new StringBuilder();
        for (JsonNode c : calls) {
            b.append(c.at("/function/name").asText()).append(';');
        }
        return b.toString();
    }

    static String arguments(JsonNode calls) {
        StringBuilder b = new StringBuilder();
        for (JsonNode c : calls) {
            b.append(c.at("/function/arguments").asText()).append(';');
        }
        return b.toString();
    }

    @Test
    void namedChoiceCallsThatFunctionOnceWithoutParallelCalls() throws Exception {
        for (long seed = 0; seed < 4; seed++) {
            TestModel.Response r = post(server, "/v1/chat/completions", chat("\"tool_choice\": {\"type\": \"function\", "
                    + "\"function\": {\"name\": \"get_time\"}}, \"parallel_tool_calls\": false, \"max_tokens\": 40, \"seed\": " + seed));
            assertEquals(200, r.status(), r.body());
            JsonNode calls = TestModel.JSON.readTree(r.body()).at("/choices/0/message/tool_calls");
            assertEquals(1, calls.size(), r.body());
            assertEquals("get_time", calls.get(0).at("/function/name").asText());
            assertValidCall("get_time", calls.get(0).at("/function/arguments").asText());
        }
    }

    @Test
    void autoRepliesWithTextOrAValidCall() throws Exception {
        // The tiny model's random weights practically never write the whole marker (TriggeredConstraintTest and
        // ToolCallScannerTest cover that path); a bias on " <" makes them start it, so the reply is held back while
        // it may still become the marker, then given out as text.
        int lt = TestModel.model().tokenizer().encode("<")[0]; // " <": SentencePiece's dummy prefix
        int calls = 0;
        int texts = 0;
        for (long seed = 0; seed < 6; seed++) {
            String bias = seed % 2 == 0 ? "" : ", \"logit_bias\": {\"" + lt + "\": 100}";
            TestModel.Response r = post(server, "/v1/chat/completions", chat("\"max_tokens\": 40, \"seed\": " + seed + bias));
            assertEquals(200, r.status(), r.body());
            JsonNode c = TestModel.JSON.readTree(r.body()).at("/choices/0");
            JsonNode tc = c.at("/message/tool_calls");
            if (tc.isArray() && !tc.isEmpty()) {
                calls++;
                if (c.get("finish_reason").asText().equals("tool_calls")) {
                    for (JsonNode call : tc) {
                        assertValidCall(call.at("/function/name").asText(), call.at("/function/arguments").asText());
                    }
                }
            } else {
                texts++;
                assertTrue(c.at("/message/content").isTextual());
                if (seed % 2 == 1) {
                    assertTrue(c.at("/message/content").asText().startsWith(" <"), c.toString());
                }
            }
        }
        assertEquals(6, calls + texts);
    }

    @Test
    void aToolConversationRendersIntoThePrompt() throws Exception {
        String body = """
                {"messages": [{"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "22 C"},
                 {"role": "assistant", "tool_calls": [{"id": "call_2", "type": "function",
                   "function": {"name": "get_time", "arguments": {"zone": "CET"}}}]},
                 {"role": "tool", "tool_call_id": "call_2", "content": "noon"}],
                 %s, "max_tokens": 4}""".formatted(tools());
        RequestParser parser = new RequestParser(TestModel.model().tokenizer(), 512, ChatTemplate.defaults(), 4);
        String prompt = parser.chatPrompt(TestModel.JSON.readTree(body));
        assertTrue(prompt.startsWith("You can call functions. To call them, reply with <tool_calls>"), prompt);
        assertTrue(prompt.contains("\nget_weather: Weather of a city {\"type\":\"object\""), prompt);
        assertTrue(prompt.endsWith("User: Weather in Paris?\n\n"
                + "Assistant: <tool_calls>[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]\n\n"
                + "Tool (get_weather): 22 C\n\n"
                + "Assistant: <tool_calls>[{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}]\n\n"
                + "Tool (get_time): noon\n\n"
                + "Assistant:"), prompt);
        assertEquals(200, post(server, "/v1/chat/completions", body).status());
    }

    @Test
    void badToolFieldsAreA400NamingThem() throws Exception {
        String[][] cases = {
                {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]", "tools[0].function.name"},
                {"\"tools\": [{\"type\": \"code_interpreter\"}]", "tools[0]"},
                {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", "
                        + "\"properties\": {\"x\": {\"type\": \"string\", \"pattern\": \"a\"}}}}}]", "tools[0].function.parameters"},
                {"\"tool_choice\": \"required\"", "tool_choice"},
                {tools() + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"nope\"}}", "tool_choice"},
                {tools() + ", \"tool_choice\": \"always\"", "tool_choice"},
                {"\"functions\": [{\"name\": \"f\"}]", "functions"},
        };
        for (String[] c : cases) {
            TestModel.Response r = post(server, "/v1/chat/completions",
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], " + c[0] + "}");
            assertEquals(400, r.status(), c[0] + ": " + r.body());
            assertEquals(c[1], TestModel.JSON.readTree(r.body()).at("/error/param").asText(), r.body());
        }
        TestModel.Response r = post(server, "/v1/completions", "{\"prompt\": \"x\", " + tools() + "}");
        assertEquals(400, r.status());
        assertEquals("tools", TestModel.JSON.readTree(r.body()).at("/error/param").asText());
        r = post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}");
        assertEquals("messages[0].tool_call_id", TestModel.JSON.readTree(r.body()).at("/error/param").asText());
        for (String ok : List.of("\"tools\": []", "\"tool_choice\": \"none\"", tools() + ", \"tool_choice\": \"none\"")) {
            assertEquals(200, post(server, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], "
                    + ok + ", \"max_tokens\": 2}").status(), ok);
        }
    }
}
