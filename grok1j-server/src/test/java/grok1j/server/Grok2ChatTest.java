package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.TokenListener;
import grok1j.model.Model;
import grok1j.tokenizer.TiktokenTokenizer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Chat with Grok-2 over HTTP, as a new user would (the official OpenAI Java SDK against {@code grok-2-tiny}): the
 * server picks Grok-2's template by itself (grok-2 spec §5), and a reply ends at {@code <|separator|>} or EOS,
 * neither of which is printed.
 */
@Timeout(180)
class Grok2ChatTest {
    static final Path TINY = Path.of(System.getProperty("grok1j.shared", "../shared")).resolve("fixtures/grok-2-tiny");
    /** The golden prompt of xAI's README (grok-2 spec §5). */
    static final String GOLDEN = "Human: What is your name?<|separator|>\n\nAssistant:";

    static Model model;
    static OpenAiServer server;
    static OpenAIClient openai;
    static int separator;
    static GenerationResult reference;

    @BeforeAll
    static void start() throws Exception {
        model = Model.open(TINY);
        separator = ((TiktokenTokenizer) model.tokenizer()).specialId("<|separator|>");
        int[] golden = model.tokenizer().encode(GOLDEN);
        // computed before the server runs: a model's forward pass serves one caller at a time
        reference = model.newContext().generate(golden, SamplingParams.greedy(12).withStopTokens(List.of(separator)),
                TokenListener.NONE);
        server = OpenAiServer.start(ServerConfig.defaults().withHost("127.0.0.1").withPort(0).withModelId("grok-2-tiny"),
                model);
        openai = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl() + "/v1").apiKey("unused").maxRetries(0)
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
        if (model != null) {
            model.close();
        }
    }

    @Test
    void chatRendersGrok2TemplateAndMatchesTheGreedyReference() {
        ChatCompletion c = openai.chat().completions().create(ChatCompletionCreateParams.builder().model("grok-2-tiny")
                .addUserMessage("  What is your name?\n").maxCompletionTokens(12L).temperature(0.0).build());
        // the user text is stripped, as SGLang's template does: the prompt is exactly the golden one
        assertEquals(model.tokenizer().encode(GOLDEN).length, c.usage().orElseThrow().promptTokens());
        assertEquals(reference.text(), c.choices().getFirst().message().content().orElse(""));
        assertEquals(reference.finishReason().apiName(), c.choices().getFirst().finishReason().asString());
        assertEquals(reference.ids().length, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void responsesApiUsesTheSameTemplate() {
        Response r = openai.responses().create(ResponseCreateParams.builder().model("grok-2-tiny")
                .input("What is your name?").maxOutputTokens(12L).temperature(0.0).build());
        StringBuilder text = new StringBuilder();
        r.output().forEach(item -> item.message().ifPresent(m -> m.content().forEach(
                c -> c.outputText().ifPresent(t -> text.append(t.text())))));
        assertEquals(reference.text(), text.toString());
        assertEquals(model.tokenizer().encode(GOLDEN).length, r.usage().orElseThrow().inputTokens());
    }

    @Test
    void chatStopsAtTheSeparatorWithoutPrintingIt() throws Exception {
        // a bias makes <|separator|> the first token: the chat reply ends there, empty
        String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"What is your name?\"}], \"max_tokens\": 5,"
                + " \"temperature\": 0, \"logit_bias\": {\"" + separator + "\": 100}}";
        JsonNode c = TestModel.post(server, "/v1/chat/completions", body).json();
        assertEquals("", c.at("/choices/0/message/content").asText(), c.toString());
        assertEquals("stop", c.at("/choices/0/finish_reason").asText());
        assertEquals(1, c.at("/usage/completion_tokens").asInt());
        // a raw completion stops on EOS only (spec §5): the separator is ordinary text there
        JsonNode t = TestModel.post(server, "/v1/completions", "{\"prompt\": \"What\", \"max_tokens\": 2,"
                + " \"temperature\": 0, \"logit_bias\": {\"" + separator + "\": 100}}").json();
        assertEquals("<|separator|><|separator|>", t.at("/choices/0/text").asText(), t.toString());
        assertEquals("length", t.at("/choices/0/finish_reason").asText());
    }

    @Test
    void eosEndsAReplyAndIsNotPrinted() throws Exception {
        int eos = model.tokenizer().eosId();
        for (String path : List.of("/v1/completions", "/v1/chat/completions")) {
            String input = path.contains("chat") ? "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]" : "\"prompt\": \"Hi\"";
            JsonNode c = TestModel.post(server, path, "{" + input + ", \"max_tokens\": 5, \"temperature\": 0,"
                    + " \"logit_bias\": {\"" + eos + "\": 100}}").json();
            String text = path.contains("chat") ? c.at("/choices/0/message/content").asText() : c.at("/choices/0/text").asText();
            assertEquals("", text, c.toString());
            assertEquals("stop", c.at("/choices/0/finish_reason").asText());
        }
    }

    @Test
    void streamedChatGivesTheSameText() {
        StringBuilder text = new StringBuilder();
        try (var stream = openai.chat().completions().createStreaming(ChatCompletionCreateParams.builder()
                .model("grok-2-tiny").addUserMessage("What is your name?").maxCompletionTokens(12L).temperature(0.0)
                .build())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> ch.delta().content().ifPresent(text::append)));
        }
        assertEquals(reference.text(), text.toString());
        assertFalse(text.toString().contains("<|"), text.toString());
    }
}
