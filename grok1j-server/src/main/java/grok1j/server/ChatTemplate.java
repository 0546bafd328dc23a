package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How {@code /v1/chat/completions} turns messages into a prompt for a base model: plain text, no special tokens.
 * Each message is rendered through the pattern of its role, {@code {content}} standing for the message text; the
 * rendered messages are concatenated and the generation prompt is appended. The default stop strings end the
 * reply where the model starts writing the next turn.
 *
 * <p>The default template:
 * <pre>
 * system:            "{content}\n\n"
 * user:              "User: {content}\n\n"
 * assistant:         "Assistant: {content}\n\n"
 * tool:              "Tool ({name}): {content}\n\n"
 * generation prompt: "Assistant:"
 * stop:              ["\nUser:", "\nAssistant:"]
 * </pre>
 * so {@code [system "Be brief.", user "Hi"]} becomes {@code "Be brief.\n\nUser: Hi\n\nAssistant:"}. A JSON file with
 * the same keys ({@code system}, {@code user}, {@code assistant}, {@code tool}, {@code generation_prompt},
 * {@code stop}) replaces it; missing keys keep their defaults. A request's own {@code stop} strings are used in addition to the template's.
 *
 * @param system           pattern for system (and developer) messages
 * @param user             pattern for user messages
 * @param assistant        pattern for assistant messages
 * @param generationPrompt appended after the last message: where the model's reply starts
 * @param stop             stop strings always applied to chat completions
 * @param tool             pattern for tool results ({@code role: "tool"}); {@code {name}} stands for the function's
 *                         name (README "Tools")
 */
public record ChatTemplate(String system, String user, String assistant, String generationPrompt, List<String> stop,
                           String tool) {
    /** The default pattern of tool results. */
    public static final String DEFAULT_TOOL = "Tool ({name}): {content}\n\n";

    /** A template with the default tool pattern. */
    public ChatTemplate(String system, String user, String assistant, String generationPrompt, List<String> stop) {
        this(system, user, assistant, generationPrompt, stop, DEFAULT_TOOL);
    }

    public ChatTemplate {
        tool = tool == null ? DEFAULT_TOOL : tool;
        for (String[] p : new String[][] {{"system", system}, {"user", user}, {"assistant", assistant}, {"tool", tool}}) {
            if (p[1] == null || !p[1].contains("{content}")) {
                throw new IllegalArgumentException("chat template: the " + p[0] + " pattern must contain {content}");
            }
        }
        generationPrompt = generationPrompt == null ? "" : generationPrompt;
        stop = stop == null ? List.of() : List.copyOf(stop);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("chat template: stop strings must not be empty");
            }
        }
    }

    /** The default template (see the class comment). */
    public static ChatTemplate defaults() {
        return new ChatTemplate("{content}\n\n", "User: {content}\n\n", "Assistant: {content}\n\n", "Assistant:",
                List.of("\nUser:", "\nAssistant:"));
    }

    /**
     * Reads a template file: a JSON object with any of the keys {@code system}, {@code user}, {@code assistant},
     * {@code generation_prompt} (strings) and {@code stop} (list of strings); the others keep their defaults.
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
            List<String> stop = d.stop();
            if (n.has("stop")) {
                JsonNode s = n.get("stop");
                if (!s.isArray()) {
                    throw new IllegalArgumentException("chat template: stop must be a list of strings");
                }
                stop = new ArrayList<>();
                for (JsonNode e : s) {
                    if (!e.isTextual()) {
                        throw new IllegalArgumentException("chat template: stop must be a list of strings");
                    }
                    stop.add(e.asText());
                }
            }
            return new ChatTemplate(text(n, "system", d.system()), text(n, "user", d.user()),
                    text(n, "assistant", d.assistant()), text(n, "generation_prompt", d.generationPrompt()), stop,
                    text(n, "tool", d.tool()));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
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
            b.append(pattern.replace("{content}", m.content()));
        }
        return b.append(generationPrompt).toString();
    }
}
