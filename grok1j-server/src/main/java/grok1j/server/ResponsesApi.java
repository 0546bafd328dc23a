package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Set;

/**
 * {@code POST /v1/responses}, the OpenAI Responses API, stateless: a request becomes the equivalent chat completion
 * ({@link #toChat}), and its result the Responses shapes ({@link #response}, and the stream's events in
 * {@link ResponsesStream}).
 *
 * <p>Supported: {@code input} (a string, or message items whose content is a string or text parts), {@code
 * instructions}, {@code max_output_tokens}, {@code temperature}, {@code top_p}, {@code stream}, {@code text.format}
 * (text, json_object or json_schema: the chat request's response_format). {@code store},
 * {@code metadata}, {@code user}, {@code truncation}, {@code parallel_tool_calls}, {@code include} and cache or
 * service hints are accepted and have no effect. Refused with a 400 naming the field, never ignored: {@code
 * previous_response_id} and {@code conversation} (nothing is stored) and
 * {@code tools} (until tool calls exist), {@code reasoning}, {@code background}, {@code top_logprobs}.
 */
final class ResponsesApi {
    private static final Set<String> ROLES = Set.of("user", "assistant", "system", "developer");

    private ResponsesApi() {
    }

    /**
     * The chat completions request equivalent to a Responses request.
     *
     * @throws ApiException 400 naming the field for what is malformed or not supported
     */
    static ObjectNode toChat(JsonNode body, ObjectMapper mapper) {
        refuse(body, "previous_response_id", "this server stores no responses; send the whole conversation in input");
        refuse(body, "conversation", "this server stores no conversations; send the whole conversation in input");
        refuse(body, "background", "background responses are not supported");
        refuse(body, "reasoning", "this model has no reasoning settings");
        refuse(body, "top_logprobs", "log-probabilities are not supported on /v1/responses; use /v1/chat/completions");
        JsonNode tools = RequestParser.present(body, "tools");
        if (tools != null && !(tools.isArray() && tools.isEmpty())) {
            throw ApiException.invalid("tools", "tools are not supported yet");
        }
        JsonNode choice = RequestParser.present(body, "tool_choice");
        if (choice != null && !(choice.isTextual() && (choice.asText().equals("none") || choice.asText().equals("auto")))) {
            throw ApiException.invalid("tool_choice", "tool_choice must be none or auto: tools are not supported yet");
        }
        JsonNode text = RequestParser.present(body, "text");
        if (text != null) {
            if (!text.isObject()) {
                throw ApiException.invalid("text", "text must be an object");
            }
        }

        ObjectNode chat = mapper.createObjectNode();
        JsonNode format = text == null ? null : RequestParser.present(text, "format");
        if (format != null) {
            chat.set("response_format", responseFormat(format, mapper));
        }
        if (body.has("model")) {
            chat.set("model", body.get("model"));
        }
        ArrayNode messages = chat.putArray("messages");
        JsonNode instructions = RequestParser.present(body, "instructions");
        if (instructions != null) {
            if (!instructions.isTextual()) {
                throw ApiException.invalid("instructions", "instructions must be a string");
            }
            messages.addObject().put("role", "system").put("content", instructions.asText());
        }
        JsonNode input = RequestParser.present(body, "input");
        if (input == null) {
            throw ApiException.invalid("input", "input is required: a string or a list of messages");
        } else if (input.isTextual()) {
            messages.addObject().put("role", "user").put("content", input.asText());
        } else if (input.isArray()) {
            if (input.isEmpty()) {
                throw ApiException.invalid("input", "input must not be empty");
            }
            for (int i = 0; i < input.size(); i++) {
                messages.add(message(input.get(i), "input[" + i + "]", mapper));
            }
        } else {
            throw ApiException.invalid("input", "input must be a string or a list of messages");
        }
        for (String same : List.of("temperature", "top_p", "stream")) {
            if (body.has(same)) {
                chat.set(same, body.get(same));
            }
        }
        if (body.has("max_output_tokens") && !body.get("max_output_tokens").isNull()) {
            chat.set("max_tokens", body.get("max_output_tokens"));
        }
        return chat;
    }

    /**
     * {@code text.format} as the chat request's {@code response_format}: {@code text} and {@code json_object} as they
     * are; {@code {"type": "json_schema", "name", "schema", "strict"}} (the Responses API's flat form) nested the
     * chat way, so the same constraint runs (see Structured outputs).
     */
    private static JsonNode responseFormat(JsonNode format, ObjectMapper mapper) {
        if (!format.isObject() || !format.path("type").isTextual()) {
            throw ApiException.invalid("text.format", "text.format must be an object with a type: text, json_object or json_schema");
        }
        if (!format.get("type").asText().equals("json_schema")) {
            return format;
        }
        ObjectNode rf = mapper.createObjectNode().put("type", "json_schema");
        ObjectNode js = rf.putObject("json_schema");
        for (String key : List.of("name", "schema", "strict", "description")) {
            if (format.has(key)) {
                js.set(key, format.get(key));
            }
        }
        return rf;
    }

    /** A parser error about the chat request, in the Responses request's terms. */
    static ApiException renamed(ApiException e) {
        String param = e.param();
        if (param == null) {
            return e;
        }
        String now = param.equals("max_tokens") ? "max_output_tokens" : param.startsWith("messages") ? "input"
                : param.startsWith("response_format") ? "text.format" + param.substring("response_format".length())
                        .replace(".json_schema", "") : param;
        if (now.equals(param)) {
            return e;
        }
        return new ApiException(e.status(), e.type(), now, e.code(), e.getMessage().replace(param, now));
    }

    private static void refuse(JsonNode body, String field, String why) {
        JsonNode v = RequestParser.present(body, field);
        if (v != null && !(v.isBoolean() && !v.asBoolean())) {
            throw ApiException.invalid(field, field + " is not supported: " + why);
        }
    }

    /** One input item as a chat message with string content. */
    private static ObjectNode message(JsonNode item, String field, ObjectMapper mapper) {
        if (!item.isObject()) {
            throw ApiException.invalid(field, field + " must be a message object");
        }
        String type = item.path("type").asText("message");
        if (!type.equals("message")) {
            throw ApiException.invalid(field + ".type", field + ".type " + type + " is not supported; only message items");
        }
        String role = item.path("role").asText("");
        if (!ROLES.contains(role)) {
            throw ApiException.invalid(field + ".role", field + ".role must be user, assistant, system or developer");
        }
        JsonNode content = item.get("content");
        StringBuilder text = new StringBuilder();
        if (content != null && content.isTextual()) {
            text.append(content.asText());
        } else if (content != null && content.isArray()) {
            for (int j = 0; j < content.size(); j++) {
                JsonNode part = content.get(j);
                String pf = field + ".content[" + j + "]";
                String pt = part.path("type").asText("");
                if (!(pt.equals("input_text") || pt.equals("output_text") || pt.equals("text")) || !part.path("text").isTextual()) {
                    throw ApiException.invalid(pf + ".type", pf + " must be a text part (input_text or output_text), got "
                            + (pt.isEmpty() ? "no type" : pt));
                }
                text.append(part.get("text").asText());
            }
        } else {
            throw ApiException.invalid(field + ".content", field + ".content must be a string or a list of text parts");
        }
        ObjectNode m = mapper.createObjectNode();
        m.put("role", role);
        m.put("content", text.toString());
        return m;
    }

    /**
     * The Responses object.
     *
     * @param status   {@code in_progress}, {@code completed} or {@code incomplete}
     * @param text     the generated text, or null while none is final (no output item then)
     * @param finish   the finish reason ({@code length} makes it incomplete), or null
     * @param usage    null until known
     */
    static ObjectNode response(ObjectMapper mapper, JsonNode request, String id, String messageId, long createdAt,
                               String model, String status, String text, ObjectNode usage) {
        ObjectNode o = mapper.createObjectNode();
        o.put("id", id);
        o.put("object", "response");
        o.put("created_at", createdAt);
        o.put("status", status);
        o.putNull("error");
        if (status.equals("incomplete")) {
            o.putObject("incomplete_details").put("reason", "max_output_tokens");
        } else {
            o.putNull("incomplete_details");
        }
        o.set("instructions", request.path("instructions").isTextual() ? request.get("instructions") : mapper.nullNode());
        o.set("max_output_tokens", request.path("max_output_tokens").isNumber() ? request.get("max_output_tokens") : mapper.nullNode());
        o.put("model", model);
        ArrayNode output = o.putArray("output");
        if (text != null) {
            // the message item is incomplete too when max_output_tokens cut it (as OpenAI marks it)
            output.add(message(mapper, messageId, status.equals("completed") ? "completed" : status, text));
        }
        o.put("parallel_tool_calls", false);
        o.putNull("previous_response_id");
        o.put("store", false);
        o.put("temperature", request.path("temperature").isNumber() ? request.get("temperature").asDouble() : 1.0);
        JsonNode format = request.path("text").path("format");
        if (format.isObject()) {
            o.putObject("text").set("format", format); // as asked: it was applied (see toChat)
        } else {
            o.putObject("text").putObject("format").put("type", "text");
        }
        o.put("tool_choice", "none");
        o.putArray("tools");
        o.put("top_p", request.path("top_p").isNumber() ? request.get("top_p").asDouble() : 1.0);
        o.put("truncation", "disabled");
        o.putObject("metadata");
        if (usage == null) {
            o.putNull("usage");
        } else {
            o.set("usage", usage);
        }
        return o;
    }

    /** The assistant's output message item. */
    static ObjectNode message(ObjectMapper mapper, String messageId, String status, String text) {
        ObjectNode m = mapper.createObjectNode();
        m.put("type", "message");
        m.put("id", messageId);
        m.put("status", status);
        m.put("role", "assistant");
        ArrayNode content = m.putArray("content");
        if (text != null) {
            content.add(textPart(mapper, text));
        }
        return m;
    }

    static ObjectNode textPart(ObjectMapper mapper, String text) {
        ObjectNode p = mapper.createObjectNode();
        p.put("type", "output_text");
        p.put("text", text);
        p.putArray("annotations");
        p.putArray("logprobs");
        return p;
    }

    static ObjectNode usage(ObjectMapper mapper, int input, int cached, int output) {
        ObjectNode u = mapper.createObjectNode();
        u.put("input_tokens", input);
        u.putObject("input_tokens_details").put("cached_tokens", cached).put("cache_write_tokens", 0);
        u.put("output_tokens", output);
        u.putObject("output_tokens_details").put("reasoning_tokens", 0);
        u.put("total_tokens", input + output);
        return u;
    }
}
