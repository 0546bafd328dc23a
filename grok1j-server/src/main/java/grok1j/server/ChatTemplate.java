package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How {@code /v1/chat/completions} turns messages into a prompt. Each message is rendered through the pattern of its
 * role, {@code {content}} standing for the message text and {@code {content.strip()}} for the text without leading
 * and trailing whitespace (Python's {@code str.strip()}); the rendered messages are concatenated and the generation
 * prompt is appended. The prompt is then encoded like any text, so a special token's text in a pattern becomes that
 * token. The stop strings end the reply where the model starts writing the next turn; a stop token (named by its
 * text, e.g. {@code <|separator|>}) ends it when the model samples that token, and is not part of the reply.
 *
 * <p>{@link #forModel} picks the template: Grok-1, a base model, gets {@link #defaults()}; Grok-2, chat-tuned, gets
 * {@link #grok2()}, its own template (grok-2 spec §5).
 *
 * <p>The default template:
 * <pre>
 * system:            "{content}\n\n"
 * user:              "User: {content}\n\n"
 * assistant:         "Assistant: {content}\n\n"
 * generation prompt: "Assistant:"
 * stop:              ["\nUser:", "\nAssistant:"]
 * </pre>
 * so {@code [system "Be brief.", user "Hi"]} becomes {@code "Be brief.\n\nUser: Hi\n\nAssistant:"}. A JSON file with
 * the same keys ({@code system}, {@code user}, {@code assistant}, {@code tool}, {@code generation_prompt},
 * {@code stop}, {@code stop_tokens}) replaces it; missing keys keep their defaults. A request's own {@code stop} strings are used
 * in addition to the template's.
 *
 * @param system           pattern for system (and developer) messages
 * @param user             pattern for user messages
 * @param assistant        pattern for assistant messages
 * @param generationPrompt appended after the last message: where the model's reply starts
 * @param stop             stop strings always applied to chat completions
 * @param stopTokens       texts of the tokens that end a reply when sampled (besides EOS), e.g. {@code <|separator|>}
 * @param tool             pattern for tool results ({@code role: "tool"}); {@code {name}} stands for the function's
 *                         name (README "Tools")
 */
public record ChatTemplate(String system, String user, String assistant, String generationPrompt, List<String> stop,
                           List<String> stopTokens, String tool) {
    /** The default pattern of tool results. */
    public static final String DEFAULT_TOOL = "Tool ({name}): {content}\n\n";

    private static final String CONTENT = "{content}";
    private static final String STRIPPED = "{content.strip()}";

    public ChatTemplate {
        tool = tool == null ? DEFAULT_TOOL : tool;
        for (String[] p : new String[][] {{"system", system}, {"user", user}, {"assistant", assistant}, {"tool", tool}}) {
            if (p[1] == null || !(p[1].contains(CONTENT) || p[1].contains(STRIPPED))) {
                throw new IllegalArgumentException("chat template: the " + p[0] + " pattern must contain {content}"
                        + " or {content.strip()}");
            }
        }
        generationPrompt = generationPrompt == null ? "" : generationPrompt;
        stop = stop == null ? List.of() : List.copyOf(stop);
        stopTokens = stopTokens == null ? List.of() : List.copyOf(stopTokens);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("chat template: stop strings must not be empty");
            }
        }
        for (String s : stopTokens) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("chat template: stop tokens must not be empty");
            }
        }
    }

    /** A template without stop tokens, with the default tool pattern. */
    public ChatTemplate(String system, String user, String assistant, String generationPrompt, List<String> stop) {
        this(system, user, assistant, generationPrompt, stop, List.of(), DEFAULT_TOOL);
    }

    /** The default template (see the class comment). */
    public static ChatTemplate defaults() {
        return new ChatTemplate("{content}\n\n", "User: {content}\n\n", "Assistant: {content}\n\n", "Assistant:",
                List.of("\nUser:", "\nAssistant:"));
    }

    /**
     * Grok-2's chat template, as SGLang and vLLM carry it (grok-2 spec §5): system and user text stripped, assistant
     * text as given, every turn closed by {@code <|separator|>} and a blank line, the reply ending at
     * {@code <|separator|>} (or EOS):
     * <pre>
     * system:            "System: {content.strip()}&lt;|separator|&gt;\n\n"
     * user:              "Human: {content.strip()}&lt;|separator|&gt;\n\n"
     * assistant:         "Assistant: {content}&lt;|separator|&gt;\n\n"
     * generation prompt: "Assistant:"
     * stop tokens:       ["&lt;|separator|&gt;"]
     * tool:              "Human: Tool ({name}): {content.strip()}&lt;|separator|&gt;\n\n" (grok1j's convention: the template has no tool role)
     * </pre>
     * A {@code <|separator|>} typed in a message becomes the special token too, as in SGLang.
     */
    public static ChatTemplate grok2() {
        return new ChatTemplate("System: " + STRIPPED + SEPARATOR + "\n\n", "Human: " + STRIPPED + SEPARATOR + "\n\n",
                "Assistant: " + CONTENT + SEPARATOR + "\n\n", "Assistant:", List.of(), List.of(SEPARATOR),
                "Human: Tool ({name}): " + STRIPPED + SEPARATOR + "\n\n");
    }

    /** Grok-2's end-of-turn token (grok-2 spec §5). */
    public static final String SEPARATOR = "<|separator|>";

    /**
     * The template of a model of this architecture: {@link #grok2()} for {@code "grok-2"} when its vocabulary has the
     * {@code <|separator|>} token (a converted file's might not), else {@link #defaults()}.
     */
    public static ChatTemplate forModel(String architecture, Tokenizer tokenizer) {
        return "grok-2".equals(architecture) && tokenId(tokenizer, SEPARATOR) >= 0 ? grok2() : defaults();
    }

    /** The id of the single token whose text is {@code text} (a special such as {@code <|separator|>}), or -1. */
    static int tokenId(Tokenizer tokenizer, String text) {
        int id = tokenizer.pieceId(text);
        if (id < 0) {
            int[] ids = tokenizer.encode(text);
            id = ids.length == 1 ? ids[0] : -1;
        }
        return id;
    }

    /**
     * Reads a template file: a JSON object with any of the keys {@code system}, {@code user}, {@code assistant},
     * {@code generation_prompt} (strings), {@code stop} and {@code stop_tokens} (lists of strings); the others keep
     * the values of {@link #defaults()}.
     *
     * @throws IOException naming the file and the key when it cannot be read or a value is wrong
     */
    public static ChatTemplate read(Path file) throws IOException {
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new IOException(file + ": not a readable JSON chat template: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
        if (n == null || !n.isObject()) {
            throw new IOException(file + ": a chat template must be a JSON object");
        }
        ChatTemplate d = defaults();
        try {
            return new ChatTemplate(text(n, "system", d.system()), text(n, "user", d.user()),
                    text(n, "assistant", d.assistant()), text(n, "generation_prompt", d.generationPrompt()),
                    strings(n, "stop", d.stop()), strings(n, "stop_tokens", d.stopTokens()), text(n, "tool", d.tool()));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    private static List<String> strings(JsonNode n, String key, List<String> dflt) {
        if (!n.has(key)) {
            return dflt;
        }
        JsonNode s = n.get(key);
        if (!s.isArray()) {
            throw new IllegalArgumentException("chat template: " + key + " must be a list of strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : s) {
            if (!e.isTextual()) {
                throw new IllegalArgumentException("chat template: " + key + " must be a list of strings");
            }
            out.add(e.asText());
        }
        return out;
    }

    private static String text(JsonNode n, String key, String dflt) {
        JsonNode v = n.get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException("chat template: " + key + " must be a string");
        }
        return v.asText();
    }

    /**
     * One chat message: role is system, developer, user, assistant or tool.
     *
     * @param name the function whose result a tool message carries (null for other roles)
     */
    public record Message(String role, String content, String name) {
        public Message(String role, String content) {
            this(role, content, null);
        }
    }

    /** The prompt text for these messages, ending with the generation prompt. */
    public String render(List<Message> messages) {
        StringBuilder b = new StringBuilder();
        for (Message m : messages) {
            String pattern = switch (m.role()) {
                case "system", "developer" -> system;
                case "user" -> user;
                case "assistant" -> assistant;
                case "tool" -> tool.replace("{name}", m.name() == null ? "tool" : m.name());
                default -> throw new IllegalArgumentException("unknown role " + m.role());
            };
            fill(b, pattern, m.content());
        }
        return b.append(generationPrompt).toString();
    }

    /** Appends the pattern with its placeholders filled (not rescanned: a message may contain "{content}"). */
    private static void fill(StringBuilder b, String pattern, String content) {
        int at = 0;
        while (at < pattern.length()) {
            if (pattern.startsWith(STRIPPED, at)) {
                b.append(strip(content));
                at += STRIPPED.length();
            } else if (pattern.startsWith(CONTENT, at)) {
                b.append(content);
                at += CONTENT.length();
            } else {
                b.append(pattern.charAt(at++));
            }
        }
    }

    /** Python's {@code str.strip()}: removes leading and trailing characters Python counts as whitespace. */
    static String strip(String s) {
        int from = 0;
        int to = s.length();
        while (from < to && isPythonSpace(s.charAt(from))) {
            from++;
        }
        while (to > from && isPythonSpace(s.charAt(to - 1))) {
            to--;
        }
        return s.substring(from, to);
    }

    /** Python's {@code str.isspace()} for one BMP character (all whitespace characters are in the BMP). */
    private static boolean isPythonSpace(char c) {
        return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }
}
