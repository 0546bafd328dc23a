package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RequestParserTest {
    static Tokenizer tokenizer;
    static RequestParser parser;

    @BeforeAll
    static void load() throws IOException {
        tokenizer = Tokenizer.load(TestModel.tiny().resolve("tokenizer.model"));
        parser = new RequestParser(tokenizer, 64, ChatTemplate.defaults(), 12);
    }

    static JsonNode json(String s) throws IOException {
        return TestModel.JSON.readTree(s);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "{\"prompt\": \"hi\", \"temperature\": \"hot\"}        | temperature",
            "{\"prompt\": \"hi\", \"temperature\": 2.5}            | temperature",
            "{\"prompt\": \"hi\", \"top_p\": 1.5}                  | top_p",
            "{\"prompt\": \"hi\", \"top_k\": -2}                   | top_k",
            "{\"prompt\": \"hi\", \"top_k\": 1.5}                  | top_k",
            "{\"prompt\": \"hi\", \"min_p\": -0.1}                 | min_p",
            "{\"prompt\": \"hi\", \"seed\": \"x\"}                 | seed",
            "{\"prompt\": \"hi\", \"n\": 0}                        | n",
            "{\"prompt\": \"hi\", \"n\": 13}                       | n",
            "{\"prompt\": \"hi\", \"max_tokens\": -1}              | max_tokens",
            "{\"prompt\": \"hi\", \"max_tokens\": \"5\"}           | max_tokens",
            "{\"prompt\": \"hi\", \"max_completion_tokens\": -3}   | max_completion_tokens",
            "{\"prompt\": \"hi\", \"stop\": 5}                     | stop",
            "{\"prompt\": \"hi\", \"stop\": [\"a\", 1]}            | stop",
            "{\"prompt\": \"hi\", \"stop\": \"\"}                  | stop",
            "{\"prompt\": \"hi\", \"logprobs\": 21}                | logprobs",
            "{\"prompt\": \"hi\", \"stream\": \"yes\"}             | stream",
            "{\"prompt\": \"hi\", \"echo\": 1}                     | echo",
            "{\"prompt\": \"hi\", \"stream_options\": {\"include_usage\": 1}} | stream_options.include_usage",
            "{\"prompt\": \"\"}                                    | prompt",
            "{\"prompt\": []}                                      | prompt",
            "{\"prompt\": 5}                                       | prompt",
            "{\"prompt\": [1, 99999999]}                           | prompt",
            "{\"prompt\": [\"ok\", 3]}                             | prompt[1]",
            "{\"max_tokens\": 3}                                   | prompt",
    })
    void badFieldsAreNamed(String body, String field) throws IOException {
        ApiException e = assertThrows(ApiException.class, () -> parser.completion(json(body)));
        assertEquals(400, e.status());
        assertEquals(field, e.param(), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "{}                                                             | messages",
            "{\"messages\": []}                                             | messages",
            "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}    | messages[0].role",
            "{\"messages\": [{\"content\": \"x\"}]}                         | messages[0].role",
            "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}         | messages[0].content",
            "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]} | messages[0].content",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2} | top_logprobs",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": true, \"top_logprobs\": 30} | top_logprobs",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 0} | max_tokens",
    })
    void badChatFieldsAreNamed(String body, String field) throws IOException {
        ApiException e = assertThrows(ApiException.class, () -> parser.chat(json(body)));
        assertEquals(field, e.param(), e.getMessage());
    }

    /** The message states the bound the value breaks: a max_tokens past the int range is not "must be >= 0". */
    @Test
    void outOfRangeMessagesNameTheBoundBroken() throws IOException {
        ApiException low = assertThrows(ApiException.class,
                () -> parser.completion(json("{\"prompt\": \"hi\", \"max_tokens\": -1}")));
        assertEquals("max_tokens must be >= 0, got -1", low.getMessage());
        ApiException high = assertThrows(ApiException.class,
                () -> parser.completion(json("{\"prompt\": \"hi\", \"max_tokens\": 99999999999999999999}")));
        assertEquals("max_tokens must be in [0, 2147483647], got 99999999999999999999", high.getMessage());
    }

    @Test
    void unknownFieldsAreIgnoredAndDefaultsApply() throws IOException {
        RequestParser.Parsed p = parser.completion(json("{\"prompt\": \"hello world\", \"model\": \"gpt-4\", \"frequency_penalty\": 0.5, \"whatever\": {}}"));
        assertEquals(1, p.n());
        assertEquals(-1, p.logprobs());
        assertEquals(1.0, p.params().getFirst().temperature());
        int promptLen = tokenizer.encode("hello world").length;
        // omitted max_tokens: the rest of the context
        assertEquals(64 - promptLen, p.params().getFirst().maxTokens());
    }

    @Test
    void promptPlusMaxTokensOverTheContextNamesBothNumbers() throws IOException {
        int promptLen = tokenizer.encode("hello world").length;
        ApiException e = assertThrows(ApiException.class,
                () -> parser.completion(json("{\"prompt\": \"hello world\", \"max_tokens\": 100}")));
        assertEquals("max_tokens", e.param());
        assertTrue(e.getMessage().contains(promptLen + " tokens") && e.getMessage().contains("100"), e.getMessage());
        assertTrue(e.getMessage().contains("64"), e.getMessage());
        // the prompt alone filling the context, max_tokens omitted
        StringBuilder longText = new StringBuilder();
        for (int i = 0; i < 80; i++) {
            longText.append(" word");
        }
        ApiException e2 = assertThrows(ApiException.class,
                () -> parser.completion(json("{\"prompt\": \"" + longText + "\"}")));
        assertEquals("prompt", e2.param());
    }

    @Test
    void promptsOfEveryShape() throws IOException {
        int[] ids = tokenizer.encode("hello world");
        RequestParser.Parsed p = parser.completion(json("{\"prompt\": [\"a b\", \"hello world\"], \"n\": 2, \"max_tokens\": 1}"));
        assertEquals(2, p.prompts().size());
        assertEquals(4, p.sequences());
        assertArrayEquals(ids, p.prompts().get(1));
        RequestParser.Parsed q = parser.completion(json("{\"prompt\": " + java.util.Arrays.toString(ids) + ", \"max_tokens\": 1}"));
        assertArrayEquals(ids, q.prompts().getFirst());
        assertEquals("hello world", q.promptTexts().getFirst());
        RequestParser.Parsed r = parser.completion(json("{\"prompt\": [" + java.util.Arrays.toString(ids) + ", [5]], \"max_tokens\": 1}"));
        assertEquals(2, r.prompts().size());
    }

    @Test
    void chatUsesTheTemplateAndItsStops() throws IOException {
        RequestParser.Parsed p = parser.chat(json("""
                {"messages": [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                              {"role": "assistant", "content": "Hello."},
                              {"role": "user", "content": "Bye"}],
                 "stop": "END", "max_completion_tokens": 3, "max_tokens": 50}"""));
        assertEquals("Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser: Bye\n\nAssistant:", p.promptTexts().getFirst());
        assertEquals(List.of("\nUser:", "\nAssistant:", "END"), p.params().getFirst().stop());
        assertEquals(3, p.params().getFirst().maxTokens()); // max_completion_tokens wins
    }

    @Test
    void templateFromFile(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws IOException {
        java.nio.file.Path f = dir.resolve("t.json");
        java.nio.file.Files.writeString(f, "{\"user\": \"Q: {content}\\n\", \"generation_prompt\": \"A:\", \"stop\": [\"\\nQ:\"]}");
        ChatTemplate t = ChatTemplate.read(f);
        assertEquals("sys\n\nQ: hi\nA:", t.render(List.of(new ChatTemplate.Message("system", "sys"), new ChatTemplate.Message("user", "hi"))));
        assertEquals(List.of("\nQ:"), t.stop());
        java.nio.file.Files.writeString(f, "{\"user\": \"no placeholder\"}");
        IOException e = assertThrows(IOException.class, () -> ChatTemplate.read(f));
        assertTrue(e.getMessage().contains("{content}"), e.getMessage());
    }

    @Test
    void topPZeroAndTopKMinusOneMeanWhatLlamaCppMeans() throws IOException {
        RequestParser.Parsed p = parser.completion(json("{\"prompt\": \"hi\", \"top_p\": 0, \"top_k\": -1}"));
        assertEquals(0.0, p.params().get(0).topP(), "top_p 0: greedy");
        assertTrue(p.params().get(0).topK() <= 0, "top_k -1: no limit");
    }

    /** Found by RequestFuzzTest: bytes Jackson takes for UTF-32 ended in a CharConversionException, not a 400. */
    @Test
    void bodyThatLooksLikeUtf32IsA400() {
        byte[] body = {(byte) 0xB9, 0, 0, 0, 'o', 'm', 'p', 't', '"', ':', ' ', '"', 'x', '"', '}'};
        ApiException e = assertThrows(ApiException.class, () -> RequestParser.readBody(TestModel.JSON, body));
        assertEquals(400, e.status());
        assertTrue(e.getMessage().startsWith("the body is not valid JSON ("), e.getMessage());
        assertEquals(400, assertThrows(ApiException.class, () -> RequestParser.readBody(TestModel.JSON, "[1]".getBytes())).status());
    }

    /** A second document or garbage after the object is refused (Jackson alone would ignore it); whitespace is not. */
    @Test
    void trailingDataAfterTheDocumentIsA400() {
        for (String body : new String[] {"{\"prompt\": \"hi\"} {\"prompt\": \"again\"}", "{\"prompt\": \"hi\"}x",
                "{\"prompt\": \"hi\"}\n]", "{\"prompt\": \"hi\"} 1"}) {
            ApiException e = assertThrows(ApiException.class,
                    () -> RequestParser.readBody(TestModel.JSON, body.getBytes(java.nio.charset.StandardCharsets.UTF_8)), body);
            assertEquals(400, e.status());
            assertTrue(e.getMessage().startsWith("the body has data after the JSON document (which ends at line "),
                    e.getMessage());
        }
        assertEquals("hi", RequestParser.readBody(TestModel.JSON, "{\"prompt\": \"hi\"} \r\n\t ".getBytes()).get("prompt").asText());
        assertEquals("the body must be a JSON object",
                assertThrows(ApiException.class, () -> RequestParser.readBody(TestModel.JSON, new byte[0])).getMessage());
    }
}
