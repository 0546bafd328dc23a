package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code grok1j tokenize} with Grok-2's {@code tokenizer.tok.json} (grok-2 spec §4). */
class TiktokenCliTest {
    static final Path SHARED = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize();
    static final Path TOK = SHARED.resolve("fixtures/grok-2-tiny/tokenizer.tok.json");

    @TempDir
    Path tmp;

    @Test
    void tokenizeMatchesTiktokenOnTheFixtureFile() throws IOException {
        Path jsonl = SHARED.resolve("fixtures/tokenizer/grok-2-tiny.jsonl");
        CliTest.Run r = CliTest.run("tokenize", "--tokenizer", TOK.toString(), "--jsonl", jsonl.toString());
        assertEquals(0, r.status(), r.err());
        List<String> lines = Files.readAllLines(jsonl);
        List<String> got = r.out().lines().toList();
        assertEquals(lines.size(), got.size());
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(CliTest.JSON.readTree(lines.get(i)).get("ids"), CliTest.JSON.readTree(got.get(i)), "line " + (i + 1));
        }
        String golden = "Human: What is your name?<|separator|>\n\nAssistant:";
        CliTest.Run one = CliTest.run("tokenize", "--tokenizer", TOK.toString(), golden);
        assertEquals(0, one.status(), one.err());
        CliTest.Run back = CliTest.run("tokenize", "--tokenizer", TOK.toString(), "--decode", one.out().strip());
        assertEquals(CliTest.JSON.writeValueAsString(golden), back.out().strip());
    }

    @Test
    void badTokJsonGivesOneLine() throws IOException {
        String good = Files.readString(TOK);
        Path dup = tmp.resolve("dup.tok.json");
        Files.writeString(dup, good.replace("{\"bytes\": [34], \"token\": 4}", "{\"bytes\": [34], \"token\": 3}"));
        CliTest.assertBadInput(CliTest.run("tokenize", "--tokenizer", dup.toString(), "x"), dup.toString(),
                "duplicate rank (token id) 3");
        Path v2 = tmp.resolve("v2.tok.json");
        Files.writeString(v2, good.replace("\"word_split\": \"V1\"", "\"word_split\": \"V2\""));
        CliTest.assertBadInput(CliTest.run("tokenize", "--tokenizer", v2.toString(), "x"), v2.toString(),
                "word_split is \"V2\"");
    }
}
