package grok1j.cli;

import static grok1j.cli.CliTest.assertBadInput;
import static grok1j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** What a new user trips over first: tokenize's options, its errors on bad files, and the help texts. */
class RoughEdgesCliTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void paths() throws Exception {
        CliTest.paths();
    }

    @Test
    void tokenizeTakesTheModelLikeEveryOtherCommand() {
        CliTest.Run byModel = run("tokenize", "--model", CliTest.tiny.toString(), "Hello world");
        assertEquals(0, byModel.status(), byModel.err());
        assertEquals("[11770,1135]", byModel.out().strip());
        CliTest.Run byFile = run("tokenize", "--tokenizer", CliTest.tiny.resolve("tokenizer.model").toString(), "Hello world");
        assertEquals(byFile.out(), byModel.out());
        assertBadInput(run("tokenize", "Hello"), "--model", "--tokenizer");
    }

    @Test
    void invalidUtf8InJsonlNamesTheLine() throws Exception {
        Path f = dir.resolve("in.jsonl");
        byte[] good = "{\"text\": \"a\"}\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] bad = {'{', '"', 't', 'e', 'x', 't', '"', ':', ' ', '"', (byte) 0xE2, (byte) 0x82, '"', '}', '\n'};
        Files.write(f, concat(good, good, bad, good));
        assertBadInput(run("tokenize", "--model", CliTest.tiny.toString(), "--jsonl", f.toString()),
                f + ":3: not valid UTF-8 (byte 11 of the line is 0xE2)");
        Files.write(f, concat(good, "{\"text\": \"b\"}\r\n".getBytes(java.nio.charset.StandardCharsets.UTF_8), good));
        CliTest.Run ok = run("tokenize", "--model", CliTest.tiny.toString(), "--jsonl", f.toString());
        assertEquals(0, ok.status(), ok.err());
        assertEquals(3, ok.out().lines().count(), ok.out());
    }

    private static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    @Test
    void topPZeroIsGreedyAndTopKMinusOneIsNoLimit() throws Exception {
        String model = CliTest.tiny.toString();
        CliTest.Run greedy = run("generate", "--model", model, "--prompt", CliTest.PROMPT, "--max-tokens", "6",
                "--temperature", "0", "--json");
        CliTest.Run topP0 = run("generate", "--model", model, "--prompt", CliTest.PROMPT, "--max-tokens", "6",
                "--temperature", "1.5", "--top-p", "0", "--seed", "4", "--json");
        assertEquals(0, topP0.status(), topP0.err());
        assertEquals(CliTest.JSON.readTree(greedy.out()).get("ids"), CliTest.JSON.readTree(topP0.out()).get("ids"));
        CliTest.Run noTopK = run("generate", "--model", model, "--prompt", CliTest.PROMPT, "--max-tokens", "2",
                "--top-k", "-1", "--seed", "4");
        assertEquals(0, noTopK.status(), noTopK.err());
        assertBadInput(run("generate", "--model", model, "--prompt", "hi", "--top-k", "-2"), "top-k");
    }

    @Test
    void convertWarnsAboutEveryFallbackAndEveryOversizedShard() throws Exception {
        // d_model 32 is below the Q4_K block of 256: every matrix falls back to F16
        CliTest.Run q4 = run("convert", "--type", "q4_k", CliTest.tiny.toString(), dir.resolve("q4.gguf").toString());
        assertEquals(0, q4.status(), q4.err());
        String warning = q4.err().lines().filter(l -> l.startsWith("warning: ")).findFirst().orElse("");
        assertTrue(warning.startsWith("warning: no matrix can be Q4_K: all 85 written as F16 (input dimension not a multiple"), q4.err());
        for (String t : new String[] {"token_embd.weight", "blk.0.attn_q.weight", "blk.11.ffn_down_exps.weight"}) {
            assertTrue(warning.contains(t), t + " in " + warning);
        }
        // the F16 embedding is 8 MiB: a 4 MiB limit cannot hold it
        CliTest.Run split = run("convert", "--type", "f16", "--split-max-size", "4M", CliTest.tiny.toString(),
                dir.resolve("s.gguf").toString());
        assertEquals(0, split.status(), split.err());
        assertTrue(split.err().contains("warning: tensor token_embd.weight (8,388,608 bytes) is larger than"
                + " --split-max-size (4,194,304 bytes); its shard will exceed the limit"), split.err());
        CliTest.Run f16 = run("convert", "--type", "f16", CliTest.tiny.toString(), dir.resolve("f.gguf").toString());
        assertTrue(f16.err().lines().noneMatch(l -> l.startsWith("warning")), f16.err());
    }

    @Test
    void aMissingCommandListsEveryCommand() {
        CliTest.Run r = run();
        assertBadInput(r, "a command is required (generate, score, tokenize, inspect, convert, serve, bench, doctor)");
    }

    /** Every paragraph of every command's description is whole sentences (the command list shows the first one). */
    @Test
    void helpTextsAreCompleteSentences() {
        CommandLine cli = new CommandLine(new Main());
        for (Map.Entry<String, CommandLine> e : cli.getSubcommands().entrySet()) {
            if (e.getKey().equals("help")) {
                continue;
            }
            for (String paragraph : e.getValue().getCommandSpec().usageMessage().description()) {
                String p = paragraph.strip();
                assertTrue(p.endsWith(".") || p.endsWith(".)"), e.getKey() + ": a description paragraph ends mid-sentence: " + p);
            }
        }
        CliTest.Run help = run("--help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains("convert"), help.out());
    }
}
