package grok1j.server;

import static grok1j.server.TestModel.post;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** With {@code echo} and {@code logprobs}, the tokens concatenate to the text the response returns. */
@Timeout(120)
class EchoTokensTest {
    static OpenAiServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withParallel(2).withQueue(4));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void echoedTokensConcatenateToTheText() {
        for (String prompt : new String[] {"Hello world", " two leading", "x\n\ny 12"}) {
            TestModel.Response r = post(server, "/v1/completions", "{\"prompt\": " + TestModel.JSON.valueToTree(prompt)
                    + ", \"max_tokens\": 3, \"temperature\": 0, \"echo\": true, \"logprobs\": 1}");
            assertEquals(200, r.status(), r.body());
            JsonNode c = r.json().get("choices").get(0);
            StringBuilder joined = new StringBuilder();
            for (JsonNode t : c.get("logprobs").get("tokens")) {
                joined.append(t.asText());
            }
            assertEquals(c.get("text").asText(), joined.toString(), prompt);
            assertEquals(prompt, c.get("text").asText().substring(0, prompt.length()));
        }
    }
}
