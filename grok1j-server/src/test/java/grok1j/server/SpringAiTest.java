package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.generate.GenerationResult;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.ai.openai.OpenAiChatOptions;

/** Spring AI 2 (its OpenAI chat model) against the server, with the base URL given with and without /v1. */
@Timeout(120)
class SpringAiTest {
    static OpenAiServer server;
    static String expected;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withParallel(2).withQueue(4));
        TestModel.Response r = TestModel.post(server, "/v1/chat/completions",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"Say hello\"}], \"max_tokens\": 6, \"temperature\": 0}");
        expected = r.json().get("choices").get(0).get("message").get("content").asText();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static OpenAiChatModel model(String suffix) {
        OpenAiChatOptions options = OpenAiChatOptions.builder().baseUrl(server.baseUrl() + suffix).apiKey("unused")
                .model("grok-1-tiny").temperature(0.0).maxTokens(6).maxRetries(0).timeout(Duration.ofSeconds(60)).build();
        return OpenAiChatModel.builder().options(options).build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"/v1", ""})
    void chatAndStream(String suffix) {
        OpenAiChatModel m = model(suffix);
        ChatResponse r = m.call(new Prompt("Say hello"));
        assertEquals(expected, r.getResult().getOutput().getText());
        List<ChatResponse> chunks = m.stream(new Prompt("Say hello")).collectList().block(Duration.ofSeconds(60));
        String streamed = Objects.requireNonNull(chunks).stream().filter(c -> c.getResult() != null)
                .map(c -> c.getResult().getOutput().getText()).filter(Objects::nonNull).collect(Collectors.joining());
        assertEquals(expected, streamed);
    }
}
