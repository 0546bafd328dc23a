package grok1j.server;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.generate.LogitsProcessing;
import grok1j.generate.SamplingParams;
import grok1j.generate.Sequence;
import grok1j.generate.constraint.TokenConstraint;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the JSON body of {@code /v1/completions} and {@code /v1/chat/completions} into a {@link Parsed} request.
 * Unknown fields are ignored; a present field with a wrong type or value is a 400 naming it. {@code null} means
 * "not given".
 */
final class RequestParser {
    /** Most alternatives listed per token by {@code logprobs} / {@code top_logprobs}. */
    static final int MAX_TOP_LOGPROBS = 20;
    /** Most prompts in one completions request. */
    static final int MAX_PROMPTS = 64;
    /** Most stop strings. */
    static final int MAX_STOPS = 16;

    private final Tokenizer tokenizer;
    private final int context;
    private final int vocab;
    private final ChatTemplate template;
    private final int maxSequences;
    private final StructuredOutputs structured;
    private final List<Integer> chatStopTokens;

    /** @param maxSequences most sequences (prompts x n) one request may ask for */
    RequestParser(Tokenizer tokenizer, int context, ChatTemplate template, int maxSequences) {
        this.tokenizer = tokenizer;
        this.context = context;
        this.vocab = tokenizer.vocabSize();
        this.template = template;
        this.maxSequences = maxSequences;
        this.structured = new StructuredOutputs(tokenizer);
        this.chatStopTokens = template.stopTokens().stream().map(t -> tokenId(tokenizer, t)).toList();
    }

    /** The id of the token whose text is {@code text} (a special such as {@code <|separator|>}). */
    private static int tokenId(Tokenizer tokenizer, String text) {
        int id = ChatTemplate.tokenId(tokenizer, text);
        if (id < 0) {
            throw new IllegalArgumentException("chat template: the stop token " + text
                    + " is not a token of this model's vocabulary");
        }
        return id;
    }

    /**
     * A validated request.
     *
     * @param chat         from {@code /v1/chat/completions}
     * @param prompts      token ids of each prompt
     * @param promptTexts  text of each prompt (for {@code echo})
     * @param params       sampling per prompt ({@code max_tokens} resolved against that prompt)
     * @param n            choices per prompt
     * @param logprobs     -1 for none, else how many alternatives to list per token
     * @param stream       answer as server-sent events
     * @param includeUsage send a usage chunk at the end of the stream
     * @param echo         prepend the prompt to the text (completions)
     * @param tools        the tools the reply may call (chat), or null
     */
    record Parsed(boolean chat, List<int[]> prompts, List<String> promptTexts, List<SamplingParams> params, int n,
                  int logprobs, boolean stream, boolean includeUsage, boolean echo, Tools.Choice tools) {
        Parsed(boolean chat, List<int[]> prompts, List<String> promptTexts, List<SamplingParams> params, int n,
               int logprobs, boolean stream, boolean includeUsage, boolean echo) {
            this(chat, prompts, promptTexts, params, n, logprobs, stream, includeUsage, echo, null);
        }

        int sequences() {
            return prompts.size() * n;
        }
    }

    /**
     * Reads a request body as the JSON object every endpoint expects.
     *
     * @throws ApiException 400 if the body is not JSON (any I/O error of the parser, e.g. bytes Jackson takes for
     *                      UTF-32 but that are not, is the body's fault: the bytes are already in memory), not an
     *                      object, or has anything but whitespace after the document
     */
    static JsonNode readBody(ObjectMapper mapper, byte[] body) {
        JsonNode n;
        try (JsonParser p = mapper.createParser(body)) {
            n = mapper.readTree(p);
            if (n != null && n.isObject()) {
                JsonLocation end = p.currentLocation();
                JsonToken more;
                try {
                    more = p.nextToken();
                } catch (JsonProcessingException e) {
                    more = JsonToken.NOT_AVAILABLE; // garbage after the document is trailing data all the same
                }
                if (more != null) {
                    // a second document or garbage: refused, as a strict parser (and the OpenAI API) would
                    throw ApiException.invalid(null, "the body has data after the JSON document (which ends at line "
                            + end.getLineNr() + ", column " + end.getColumnNr() + ")");
                }
            }
        } catch (JsonProcessingException e) {
            // in our words: Jackson's messages name its own options and classes
            var at = e.getLocation();
            throw ApiException.invalid(null, at == null || at.getLineNr() < 0 ? "the body is not valid JSON"
                    : "the body is not valid JSON (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")");
        } catch (IOException e) {
            // e.g. bytes Jackson takes for UTF-32 that are not
            throw ApiException.invalid(null, "the body is not valid JSON (its characters cannot be decoded)");
        }
        if (n == null || !n.isObject()) {
            throw ApiException.invalid(null, "the body must be a JSON object");
        }
        return n;
    }

    Parsed completion(JsonNode body) {
        Tools.refuseOnCompletions(body);
        List<int[]> prompts = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        readPrompts(body.get("prompt"), prompts, texts);
        int logprobs = -1;
        JsonNode lp = present(body, "logprobs");
        if (lp != null) {
            if (lp.isBoolean()) {
                logprobs = lp.asBoolean() ? 0 : -1; // lenient: true as "the chosen token only"
            } else {
                logprobs = intIn(body, "logprobs", 0, MAX_TOP_LOGPROBS, -1);
            }
        }
        boolean echo = bool(body, "echo", false);
        StructuredOutputs.Format format = structured.parse(body);
        return common(body, false, prompts, texts, logprobs, echo, format);
    }

    Parsed chat(JsonNode body) {
        StructuredOutputs.Format format = structured.parse(body);
        Tools.Choice tools = Tools.parse(body);
        if (tools != null && !tools.forced() && format != null) {
            throw ApiException.invalid("response_format", "response_format with tools under tool_choice auto is not supported: "
                    + "use tool_choice none, required or a named function");
        }
        String prompt = chatPrompt(body, format, tools);
        int[] ids = tokenizer.encode(prompt);
        int logprobs = -1;
        boolean want = bool(body, "logprobs", false);
        JsonNode top = present(body, "top_logprobs");
        if (top != null) {
            if (!want) {
                throw ApiException.invalid("top_logprobs", "top_logprobs needs logprobs set to true");
            }
        }
        if (want) {
            logprobs = intIn(body, "top_logprobs", 0, MAX_TOP_LOGPROBS, 0);
        }
        if (tools != null) {
            TokenConstraint c = Tools.constraint(tools, structured);
            format = new StructuredOutputs.Format(c, null);
        }
        Parsed p = common(body, true, List.of(ids), List.of(prompt), logprobs, false, format);
        return new Parsed(p.chat(), p.prompts(), p.promptTexts(), p.params(), p.n(), p.logprobs(), p.stream(),
                p.includeUsage(), p.echo(), tools);
    }

    /** The prompt text the chat template makes of {@code messages} (and {@code response_format}, {@code tools}). */
    String chatPrompt(JsonNode body) {
        return chatPrompt(body, structured.parse(body), Tools.parse(body));
    }

    /**
     * The tools as a system message first (README "Tools"), the messages, then the response format's instruction as
     * a system message (README "Structured outputs"); a forced tool call puts the marker after the generation prompt.
     */
    private String chatPrompt(JsonNode body, StructuredOutputs.Format format, Tools.Choice tools) {
        List<ChatTemplate.Message> ms = new ArrayList<>();
        if (tools != null) {
            ms.add(new ChatTemplate.Message("system", tools.instruction()));
        }
        ms.addAll(messages(body));
        if (format != null && (tools == null || !tools.forced())) {
            ms.add(new ChatTemplate.Message("system", format.instruction()));
        }
        String prompt = template.render(ms);
        if (tools != null && tools.forced()) {
            prompt += (prompt.isEmpty() || Character.isWhitespace(prompt.charAt(prompt.length() - 1)) ? "" : " ") + Tools.MARKER;
        }
        return prompt;
    }

    private Parsed common(JsonNode body, boolean chat, List<int[]> prompts, List<String> texts, int logprobs, boolean echo,
                          StructuredOutputs.Format format) {
        double temperature = number(body, "temperature", 0, 2, 1.0);
        double topP = number(body, "top_p", 0, 1, 1.0); // 0 = greedy, as in llama.cpp
        int topK = intIn(body, "top_k", -1, Integer.MAX_VALUE, 0);
        double minP = number(body, "min_p", 0, 1, 0.0);
        Long seed = null;
        JsonNode s = present(body, "seed");
        if (s != null) {
            if (!s.isIntegralNumber() || !s.canConvertToLong()) {
                throw ApiException.invalid("seed", "seed must be an integer, got " + s);
            }
            seed = s.asLong();
        }
        int n = intIn(body, "n", 1, 128, 1);
        if ((long) n * prompts.size() > maxSequences) {
            throw ApiException.invalid("n", "n = " + n + (prompts.size() > 1 ? " for " + prompts.size() + " prompts" : "")
                    + " asks for more sequences than this server runs and queues at once (" + maxSequences + ")");
        }
        List<String> stop = new ArrayList<>(chat ? template.stop() : List.of());
        stop.addAll(stops(body));
        boolean ignoreEos = bool(body, "ignore_eos", false);
        boolean stream = bool(body, "stream", false);
        boolean includeUsage = false;
        JsonNode so = present(body, "stream_options");
        if (so != null) {
            if (!so.isObject()) {
                throw ApiException.invalid("stream_options", "stream_options must be an object");
            }
            includeUsage = bool(so, "include_usage", "stream_options.include_usage", false);
        }
        // max_completion_tokens (the newer name) wins over max_tokens when both are given
        String maxName = present(body, "max_completion_tokens") != null ? "max_completion_tokens" : "max_tokens";
        int maxTokens = intIn(body, maxName, chat ? 1 : 0, Integer.MAX_VALUE, -1);
        LogitsProcessing processing = SamplingFields.processing(body, vocab, n);
        if (format != null) {
            processing = processing.withConstraint(format.constraint());
        }
        List<SamplingParams> params = new ArrayList<>();
        for (int[] p : prompts) {
            boolean given = maxTokens >= 0;
            int m = given ? maxTokens : Math.max(0, context - p.length); // omitted: the rest of the context
            try {
                Sequence.checkFits(p.length, given ? m : Math.max(m, 1), context);
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid(given ? maxName : chat ? "messages" : "prompt", e.getMessage());
            }
            try {
                params.add(new SamplingParams(temperature, Math.max(0, topK), topP, minP, seed, m, stop, ignoreEos, processing,
                        chat ? chatStopTokens : List.of()));
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid(null, e.getMessage());
            }
        }
        return new Parsed(chat, prompts, texts, params, n, logprobs, stream, includeUsage, echo);
    }

    private void readPrompts(JsonNode p, List<int[]> prompts, List<String> texts) {
        if (p == null || p.isNull()) {
            throw ApiException.invalid("prompt", "prompt is required");
        }
        if (p.isTextual()) {
            addText(p.asText(), "prompt", prompts, texts);
            return;
        }
        if (!p.isArray()) {
            throw ApiException.invalid("prompt", "prompt must be a string, an array of strings, an array of token ids or an array of arrays of token ids");
        }
        if (p.isEmpty()) {
            throw ApiException.invalid("prompt", "prompt must not be an empty array");
        }
        if (p.get(0).isNumber()) {
            addIds(p, "prompt", prompts, texts);
            return;
        }
        if (p.size() > MAX_PROMPTS) {
            throw ApiException.invalid("prompt", "at most " + MAX_PROMPTS + " prompts per request, got " + p.size());
        }
        for (int i = 0; i < p.size(); i++) {
            JsonNode e = p.get(i);
            String field = "prompt[" + i + "]";
            if (e.isTextual()) {
                addText(e.asText(), field, prompts, texts);
            } else if (e.isArray() && !e.isEmpty()) {
                addIds(e, field, prompts, texts);
            } else {
                throw ApiException.invalid(field, field + " must be a string or a non-empty array of token ids");
            }
        }
    }

    private void addText(String text, String field, List<int[]> prompts, List<String> texts) {
        if (text.isEmpty()) {
            throw ApiException.invalid(field, "the prompt is empty");
        }
        prompts.add(tokenizer.encode(text));
        texts.add(text);
    }

    private void addIds(JsonNode arr, String field, List<int[]> prompts, List<String> texts) {
        int[] ids = new int[arr.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode e = arr.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() < 0 || e.asInt() >= vocab) {
                throw ApiException.invalid(field, field + "[" + i + "] must be a token id in [0, " + vocab + "), got " + e);
            }
            ids[i] = e.asInt();
        }
        prompts.add(ids);
        texts.add(tokenizer.decode(ids));
    }

    private List<ChatTemplate.Message> messages(JsonNode body) {
        JsonNode ms = body.get("messages");
        if (ms == null || ms.isNull()) {
            throw ApiException.invalid("messages", "messages is required");
        }
        if (!ms.isArray() || ms.isEmpty()) {
            throw ApiException.invalid("messages", "messages must be a non-empty array");
        }
        List<ChatTemplate.Message> out = new ArrayList<>();
        Map<String, String> callNames = new HashMap<>(); // tool call id to function name
        for (int i = 0; i < ms.size(); i++) {
            JsonNode m = ms.get(i);
            String field = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiException.invalid(field, field + " must be an object");
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) {
                throw ApiException.invalid(field + ".role", field + ".role must be a string");
            }
            String r = role.asText();
            if (!List.of("system", "developer", "user", "assistant", "tool").contains(r)) {
                throw ApiException.invalid(field + ".role", field + ".role must be system, developer, user, assistant or tool, got " + r);
            }
            String text = content(m.get("content"), field + ".content");
            JsonNode calls = present(m, "tool_calls");
            if (r.equals("assistant") && calls != null && !(calls.isArray() && calls.isEmpty())) {
                String rendered = Tools.renderCalls(calls, field + ".tool_calls", callNames);
                text = text.isEmpty() ? rendered : text + " " + rendered;
            }
            String name = null;
            if (r.equals("tool")) {
                JsonNode id = present(m, "tool_call_id");
                if (id == null || !id.isTextual()) {
                    throw ApiException.invalid(field + ".tool_call_id", field + ".tool_call_id must be a string: the id of the call this answers");
                }
                name = callNames.getOrDefault(id.asText(), m.path("name").isTextual() ? m.get("name").asText() : id.asText());
            }
            out.add(new ChatTemplate.Message(r, text, name));
        }
        return out;
    }

    private static String content(JsonNode c, String field) {
        if (c == null || c.isNull()) {
            return "";
        }
        if (c.isTextual()) {
            return c.asText();
        }
        if (c.isArray()) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < c.size(); i++) {
                JsonNode part = c.get(i);
                JsonNode type = part.get("type");
                if (!part.isObject() || type == null || !"text".equals(type.asText()) || !part.path("text").isTextual()) {
                    throw ApiException.invalid(field, field + "[" + i + "] must be a text part {\"type\": \"text\", \"text\": ...}; "
                            + "this model reads text only");
                }
                b.append(part.get("text").asText());
            }
            return b.toString();
        }
        throw ApiException.invalid(field, field + " must be a string or an array of text parts");
    }

    private static List<String> stops(JsonNode body) {
        JsonNode s = present(body, "stop");
        if (s == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            if (s.size() > MAX_STOPS) {
                throw ApiException.invalid("stop", "at most " + MAX_STOPS + " stop strings, got " + s.size());
            }
            for (JsonNode e : s) {
                if (!e.isTextual()) {
                    throw ApiException.invalid("stop", "stop must be a string or a list of strings");
                }
                out.add(e.asText());
            }
        } else {
            throw ApiException.invalid("stop", "stop must be a string or a list of strings");
        }
        for (String x : out) {
            if (x.isEmpty()) {
                throw ApiException.invalid("stop", "stop strings must not be empty");
            }
        }
        return out;
    }

    /** The field's value, or null when absent or JSON null. */
    static JsonNode present(JsonNode body, String name) {
        JsonNode v = body.get(name);
        return v == null || v.isNull() ? null : v;
    }

    static boolean bool(JsonNode body, String name, boolean dflt) {
        return bool(body, name, name, dflt);
    }

    private static boolean bool(JsonNode body, String name, String field, boolean dflt) {
        JsonNode v = present(body, name);
        if (v == null) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw ApiException.invalid(field, field + " must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    static double number(JsonNode body, String name, double min, double max, double dflt) {
        JsonNode v = present(body, name);
        if (v == null) {
            return dflt;
        }
        if (!v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max)) {
            throw ApiException.invalid(name, name + " must be a number in [" + Metrics.fmt(min) + ", " + Metrics.fmt(max) + "], got " + v);
        }
        return v.asDouble();
    }

    static int intIn(JsonNode body, String name, int min, int max, int dflt) {
        JsonNode v = present(body, name);
        if (v == null) {
            return dflt;
        }
        boolean integral = v.isIntegralNumber() || (v.isNumber() && v.asDouble() == Math.rint(v.asDouble()));
        if (!integral) {
            throw ApiException.invalid(name, name + " must be an integer, got " + v);
        }
        double d = v.asDouble();
        if (d < min || d > max) {
            // an unbounded field (max_tokens) states its lower bound, unless the value is past the int range
            throw ApiException.invalid(name, name + " must be " + (max == Integer.MAX_VALUE && d < min ? ">= " + min
                    : "in [" + min + ", " + max + "]") + ", got " + v);
        }
        return (int) d;
    }

    /** For /tokenize: the ids of {@code prompt} or of the chat prompt of {@code messages}. */
    int[] tokenizeBody(JsonNode body) {
        if (present(body, "messages") != null) {
            return tokenizer.encode(chatPrompt(body));
        }
        JsonNode p = present(body, "prompt");
        if (p == null) {
            p = present(body, "text");
        }
        if (p == null || !p.isTextual()) {
            throw ApiException.invalid("prompt", "prompt must be a string (or give messages)");
        }
        return tokenizer.encode(p.asText());
    }
}
