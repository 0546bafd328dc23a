package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import grok1j.generate.GenerationResult;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Real OpenAI clients (the official Java SDK and langchain4j) against the server, with an API key set. */
@Timeout(120)
class ClientCompatibilityTest {
    static final String KEY = "test-key-123";
    static final String PROMPT = "Once upon a time";
    static OpenAiServer server;
    static GenerationResult reference;
    static OpenAIClient openai;

    @BeforeAll
    static void start() throws Exception {
        reference = TestModel.greedy(PROMPT, 8);
        server = TestModel.start(ServerConfig.defaults().withApiKey(KEY).withParallel(2).withQueue(4));
        openai = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl() + "/v1").apiKey(KEY).maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
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

    @Test
    void openAiSdkCompletionIsTheGreedyContinuation() {
        Completion c = openai.completions().create(CompletionCreateParams.builder().model("grok-1-tiny").prompt(PROMPT)
                .maxTokens(8L).temperature(0.0).build());
        assertEquals(reference.text(), c.choices().getFirst().text());
        assertEquals(reference.finishReason().apiName(), c.choices().getFirst().finishReason().asString());
        assertEquals(reference.ids().length, c.usage().orElseThrow().completionTokens());
        assertEquals(reference.promptIds().length, c.usage().orElseThrow().promptTokens());
    }

    @Test
    void openAiSdkStreamedChat() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("grok-1-tiny")
                .addSystemMessage("You are terse.").addUserMessage("Say hello").maxCompletionTokens(6L).temperature(0.0)
                .build();
        ChatCompletion whole = openai.chat().completions().create(params);
        String expected = whole.choices().getFirst().message().content().orElse("");
        StringBuilder text = new StringBuilder();
        String[] finish = new String[1];
        try (StreamResponse<ChatCompletionChunk> stream = openai.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> {
                ch.delta().content().ifPresent(text::append);
                ch.finishReason().ifPresent(f -> finish[0] = f.asString());
            }));
        }
        assertEquals(expected, text.toString());
        assertEquals(whole.choices().getFirst().finishReason().asString(), finish[0]);
    }

    @Test
    void openAiSdkMapsErrors() {
        BadRequestException e = assertThrows(BadRequestException.class, () -> openai.completions().create(
                CompletionCreateParams.builder().model("grok-1-tiny").prompt(PROMPT).maxTokens(4L).temperature(5.0).build()));
        assertEquals(400, e.statusCode());
        assertTrue(e.getMessage().contains("temperature"), e.getMessage());
        OpenAIClient noKey = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl() + "/v1").apiKey("wrong")
                .maxRetries(0).build();
        try {
            assertThrows(UnauthorizedException.class, () -> noKey.models().list());
        } finally {
            noKey.close();
        }
    }

    @Test
    void langchain4jChatAndStreamingChat() throws Exception {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(server.baseUrl() + "/v1").apiKey(KEY)
                .modelName("grok-1-tiny").temperature(0.0).maxTokens(5).maxRetries(0).timeout(Duration.ofSeconds(60)).build();
        String answer = chat.chat("Tell me a story");
        assertFalse(answer == null);

        OpenAiStreamingChatModel streaming = OpenAiStreamingChatModel.builder().baseUrl(server.baseUrl() + "/v1").apiKey(KEY)
                .modelName("grok-1-tiny").temperature(0.0).maxTokens(5).timeout(Duration.ofSeconds(60)).build();
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming.chat("Tell me a story", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                partial.append(text);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertEquals(answer, partial.toString());
        assertEquals(answer, r.aiMessage().text());
    }

    @Test
    void langchain4jMapsErrors() {
        OpenAiChatModel wrongKey = OpenAiChatModel.builder().baseUrl(server.baseUrl() + "/v1").apiKey("wrong")
                .modelName("grok-1-tiny").maxRetries(0).build();
        assertThrows(AuthenticationException.class, () -> wrongKey.chat("hi"));
        OpenAiChatModel badTemperature = OpenAiChatModel.builder().baseUrl(server.baseUrl() + "/v1").apiKey(KEY)
                .modelName("grok-1-tiny").temperature(3.0).maxRetries(0).build();
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> badTemperature.chat("hi"));
        assertTrue(e.getMessage().contains("temperature"), e.getMessage());
    }

    @Test
    void keyIsRequiredOnTheApiButNotOnHealthOrMetrics() {
        TestModel.Response none = TestModel.get(server, "/v1/models");
        assertEquals(401, none.status());
        assertEquals("invalid_api_key", none.json().get("error").get("code").asText());
        assertEquals(401, TestModel.post(server, "/v1/completions", "{\"prompt\": \"x\"}", "Authorization", "Bearer nope").status());
        assertEquals(401, TestModel.post(server, "/tokenize", "{\"prompt\": \"x\"}").status());
        assertEquals(200, TestModel.get(server, "/v1/models", "Authorization", "Bearer " + KEY).status());
        assertEquals(200, TestModel.get(server, "/health").status());
        assertEquals(200, TestModel.get(server, "/metrics").status());
    }
}
