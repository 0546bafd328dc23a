package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessage;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A two-turn tool conversation (the model's call, the tool's result, the final answer) with the OpenAI Java SDK and
 * langchain4j, streamed and not, written as an application would, against the tiny model (random weights: the
 * arguments need only validate against the function's schema).
 */
@Timeout(300)
class ToolClientsTest {
    static final String WEATHER = """
            {"type":"object","properties":{"city":{"type":"string","maxLength":12},
             "unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"],"additionalProperties":false}""";
    static final Schema VALIDATOR = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(WEATHER);
    static OpenAiServer server;
    static OpenAIClient openai;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withParallel(2).withQueue(8));
        openai = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl() + "/v1").apiKey("none").maxRetries(0)
                .timeout(Duration.ofSeconds(120)).build();
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

    static void assertValidArguments(String json) throws Exception {
        var doc = TestModel.JSON.readTree(json);
        assertTrue(VALIDATOR.validate(doc).isEmpty(), () -> json + ": " + VALIDATOR.validate(doc));
    }

    // ------------------------------------------------------------------ OpenAI Java SDK

    static ChatCompletionCreateParams.Builder firstTurn() throws Exception {
        @SuppressWarnings("unchecked")
        Map<String, Object> schema = TestModel.JSON.readValue(WEATHER, Map.class);
        FunctionParameters.Builder params = FunctionParameters.builder();
        schema.forEach((k, v) -> params.putAdditionalProperty(k, JsonValue.from(v)));
        return ChatCompletionCreateParams.builder().model("grok-1-tiny")
                .addUserMessage("What is the weather in Paris?")
                .addFunctionTool(FunctionDefinition.builder().name("get_weather").description("Current weather of a city")
                        .parameters(params.build()).build())
                .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED)
                .maxCompletionTokens(48L).temperature(0.8).seed(3L);
    }

    /** The call, the tool's result, then the answer (tool_choice none: the model must reply in words). */
    static ChatCompletionCreateParams secondTurn(ChatCompletionMessage call) throws Exception {
        List<ChatCompletionMessageFunctionToolCall> calls = new ArrayList<>();
        call.toolCalls().orElseThrow().forEach(t -> calls.add(t.asFunction()));
        assertFalse(calls.isEmpty());
        ChatCompletionCreateParams.Builder b = firstTurn().addMessage(call);
        for (ChatCompletionMessageFunctionToolCall c : calls) {
            assertTrue(c.id().startsWith("call_"));
            assertEquals("get_weather", c.function().name());
            assertValidArguments(c.function().arguments());
            b.addMessage(ChatCompletionToolMessageParam.builder().toolCallId(c.id()).content("18 degrees, sunny").build());
        }
        return b.toolChoice(ChatCompletionToolChoiceOption.Auto.NONE).maxCompletionTokens(8L).build();
    }

    @Test
    void openAiSdkToolConversation() throws Exception {
        ChatCompletion first = openai.chat().completions().create(firstTurn().build());
        assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, first.choices().getFirst().finishReason());
        ChatCompletion answer = openai.chat().completions().create(secondTurn(first.choices().getFirst().message()));
        assertNotNull(answer.choices().getFirst().message().content().orElse(null));
        assertTrue(answer.choices().getFirst().message().toolCalls().orElse(List.of()).isEmpty());
    }

    @Test
    void openAiSdkStreamedToolConversation() throws Exception {
        ChatCompletion whole = openai.chat().completions().create(firstTurn().build());
        ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
        try (StreamResponse<ChatCompletionChunk> s = openai.chat().completions().createStreaming(firstTurn().build())) {
            s.stream().forEach(acc::accumulate);
        }
        ChatCompletion streamed = acc.chatCompletion();
        assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, streamed.choices().getFirst().finishReason());
        ChatCompletionMessage call = streamed.choices().getFirst().message();
        // the same seed: the same call as without streaming (ids differ)
        assertEquals(arguments(whole.choices().getFirst().message()), arguments(call));
        ChatCompletionAccumulator acc2 = ChatCompletionAccumulator.create();
        try (StreamResponse<ChatCompletionChunk> s = openai.chat().completions().createStreaming(secondTurn(call))) {
            s.stream().forEach(acc2::accumulate);
        }
        assertNotNull(acc2.chatCompletion().choices().getFirst().message().content().orElse(null));
    }

    static List<String> arguments(ChatCompletionMessage m) {
        List<String> out = new ArrayList<>();
        m.toolCalls().orElseThrow().forEach(t -> out.add(t.asFunction().function().name() + t.asFunction().function().arguments()));
        return out;
    }

    // ------------------------------------------------------------------ langchain4j

    static final ToolSpecification WEATHER_TOOL = ToolSpecification.builder().name("get_weather")
            .description("Current weather of a city")
            .parameters(JsonObjectSchema.builder().addStringProperty("city", "The city")
                    .addEnumProperty("unit", List.of("celsius", "fahrenheit")).required("city", "unit").build())
            .build();

    static ChatRequest langchainFirst() {
        return ChatRequest.builder().messages(UserMessage.from("What is the weather in Paris?"))
                .toolSpecifications(WEATHER_TOOL).toolChoice(ToolChoice.REQUIRED).maxOutputTokens(48).temperature(0.8).build();
    }

    static ChatRequest langchainSecond(AiMessage call) throws Exception {
        assertTrue(call.hasToolExecutionRequests());
        List<ChatMessage> messages = new ArrayList<>(List.of(UserMessage.from("What is the weather in Paris?"), call));
        for (ToolExecutionRequest r : call.toolExecutionRequests()) {
            assertEquals("get_weather", r.name());
            var args = TestModel.JSON.readTree(r.arguments());
            assertTrue(args.get("city").isTextual(), r.arguments());
            assertTrue(List.of("celsius", "fahrenheit").contains(args.get("unit").asText()), r.arguments());
            messages.add(ToolExecutionResultMessage.from(r, "18 degrees, sunny"));
        }
        return ChatRequest.builder().messages(messages).maxOutputTokens(8).temperature(0.8).build();
    }

    @Test
    void langchain4jToolConversation() throws Exception {
        ChatModel model = OpenAiChatModel.builder().baseUrl(server.baseUrl() + "/v1").apiKey("none").modelName("grok-1-tiny")
                .maxRetries(0).timeout(Duration.ofSeconds(120)).build();
        ChatResponse first = model.chat(langchainFirst());
        ChatResponse answer = model.chat(langchainSecond(first.aiMessage()));
        assertNotNull(answer.aiMessage().text());
        assertFalse(answer.aiMessage().hasToolExecutionRequests());
    }

    @Test
    void langchain4jStreamedToolConversation() throws Exception {
        StreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(server.baseUrl() + "/v1").apiKey("none")
                .modelName("grok-1-tiny").timeout(Duration.ofSeconds(120)).build();
        ChatResponse first = stream(model, langchainFirst());
        ChatResponse answer = stream(model, langchainSecond(first.aiMessage()));
        assertNotNull(answer.aiMessage().text());
    }

    static ChatResponse stream(StreamingChatModel model, ChatRequest request) throws Exception {
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(request, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
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
        return done.get(120, TimeUnit.SECONDS);
    }
}
