package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.server.ChatTemplate.Message;
import grok1j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The chat templates' rendering (grok-2 spec §5 for Grok-2). */
class ChatTemplateTest {

    @Test
    void grok2GoldenPrompt() {
        assertEquals("Human: What is your name?<|separator|>\n\nAssistant:",
                ChatTemplate.grok2().render(List.of(new Message("user", "What is your name?"))));
    }

    @Test
    void grok2StripsSystemAndUserButNotAssistant() {
        String p = ChatTemplate.grok2().render(List.of(new Message("system", "\n Be brief.\u00a0"),
                new Message("user", " Hi "), new Message("assistant", " Hello! "), new Message("user", "{content}")));
        assertEquals("System: Be brief.<|separator|>\n\nHuman: Hi<|separator|>\n\nAssistant:  Hello! <|separator|>\n\n"
                + "Human: {content}<|separator|>\n\nAssistant:", p);
        assertEquals(List.of("<|separator|>"), ChatTemplate.grok2().stopTokens());
        assertEquals(List.of(), ChatTemplate.grok2().stop());
    }

    @Test
    void modelChoosesItsTemplate() throws Exception {
        Path shared = Path.of(System.getProperty("grok1j.shared", "../shared"));
        Tokenizer grok2 = Tokenizer.load(shared.resolve("fixtures/grok-2-tiny/tokenizer.tok.json"));
        assertEquals(ChatTemplate.grok2(), ChatTemplate.forModel("grok-2", grok2));
        assertEquals(ChatTemplate.defaults(), ChatTemplate.forModel("grok-1", grok2));
    }

    @Test
    void pythonStrip() {
        assertEquals("a b", ChatTemplate.strip("\t\u3000\u001ca b\u2029 \u0085"));
        assertEquals("\u200ba\u200b", ChatTemplate.strip("\u200ba\u200b")); // U+200B is not whitespace
        assertEquals("", ChatTemplate.strip(" \n "));
    }
}
