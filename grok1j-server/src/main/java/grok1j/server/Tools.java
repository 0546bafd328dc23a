package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import grok1j.generate.constraint.JsonSchemaConstraint;
import grok1j.generate.constraint.SchemaException;
import grok1j.generate.constraint.TokenConstraint;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code tools}, {@code tool_choice} and {@code parallel_tool_calls} of a chat request (README "Tools"). The model
 * calls tools by writing {@link #MARKER} and then a JSON array of calls {@code [{"name": ..., "arguments": {...}}]};
 * the array is constrained by a schema made of the functions' parameter schemas, so the arguments always validate.
 * Under {@code auto} the model may write text instead (a reply is a tool call when it starts with the marker);
 * {@code required} and a named function put the marker at the end of the prompt, so the reply is the array.
 */
final class Tools {
    /** What starts a tool call in the model's reply, and in an assistant message of the history. */
    static final String MARKER = "<tool_calls>";
    /** OpenAI's rule for function names (so a name needs no escaping in JSON or in the prompt). */
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");
    private static final ObjectMapper JSON = new ObjectMapper();

    private Tools() {
    }

    /** One function: its name, description (may be empty) and parameter schema as compact JSON. */
    record Function(String name, String description, String parameters) {
    }

    /**
     * The tools a reply may call.
     *
     * @param functions the callable functions (all of {@code tools}, or the one {@code tool_choice} names)
     * @param listed    every function, as shown to the model
     * @param forced    {@code required} or a named function: the reply is a tool call
     * @param parallel  more than one call per reply allowed
     */
    record Choice(List<Function> functions, List<Function> listed, boolean forced, boolean parallel) {
        /** The schema of the JSON array of calls that follows the marker. */
        String callsSchema() {
            ObjectNode root = JSON.createObjectNode();
            root.put("type", "array");
            root.put("minItems", 1);
            if (!parallel) {
                root.put("maxItems", 1);
            }
            ArrayNode alternatives = root.putObject("items").putArray("anyOf");
            for (int i = 0; i < functions.size(); i++) {
                Function f = functions.get(i);
                ObjectNode call = alternatives.addObject();
                call.put("type", "object");
                ObjectNode props = call.putObject("properties");
                props.putObject("name").put("const", f.name());
                props.set("arguments", rebase(read(f.parameters()), "#/items/anyOf/" + i + "/properties/arguments"));
                call.putArray("required").add("name").add("arguments");
                call.put("additionalProperties", false);
            }
            return root.toString();
        }

        /** The system message that lists the tools, placed before the conversation. */
        String instruction() {
            StringBuilder b = new StringBuilder("You can call functions. To call them, reply with " + MARKER
                    + " followed by a JSON array of calls, [{\"name\": <function name>, \"arguments\": <arguments object>}]"
                    + (parallel ? "" : " (one call)") + ", and nothing else. A call's result comes back in a Tool message."
                    + " The functions, each with the JSON schema of its arguments:");
            for (Function f : listed) {
                b.append('\n').append(f.name());
                if (!f.description().isEmpty()) {
                    b.append(": ").append(f.description());
                }
                b.append(' ').append(f.parameters());
            }
            if (forced) {
                b.append(functions.size() == 1 && listed.size() > 1 ? "\nCall " + functions.get(0).name() + " now."
                        : "\nCall a function now.");
            }
            return b.toString();
        }
    }

    /**
     * @return the tools the reply may call, or null when it may not call any (no tools, or {@code tool_choice: "none"})
     * @throws ApiException 400 naming the field that is malformed
     */
    static Choice parse(JsonNode body) {
        refuseLegacy(body);
        List<Function> listed = functions(RequestParser.present(body, "tools"));
        JsonNode tc = RequestParser.present(body, "tool_choice");
        String mode = listed.isEmpty() ? "none" : "auto";
        String named = null;
        if (tc != null) {
            if (tc.isTextual() && List.of("none", "auto", "required").contains(tc.asText())) {
                mode = tc.asText();
            } else if (tc.isObject() && "function".equals(tc.path("type").asText()) && tc.path("function").path("name").isTextual()) {
                mode = "named";
                named = tc.path("function").path("name").asText();
            } else {
                throw ApiException.invalid("tool_choice", "tool_choice must be none, auto, required or "
                        + "{\"type\": \"function\", \"function\": {\"name\": ...}}, got " + tc);
            }
            if (!mode.equals("none") && listed.isEmpty()) {
                throw ApiException.invalid("tool_choice", "tool_choice " + tc + " needs tools");
            }
        }
        boolean parallel = RequestParser.bool(body, "parallel_tool_calls", true);
        if (mode.equals("none")) {
            return null;
        }
        List<Function> callable = listed;
        if (named != null) {
            callable = new ArrayList<>();
            for (Function f : listed) {
                if (f.name().equals(named)) {
                    callable.add(f);
                }
            }
            if (callable.isEmpty()) {
                throw ApiException.invalid("tool_choice", "tool_choice names " + named + ", which is not among the tools");
            }
        }
        return new Choice(callable, listed, !mode.equals("auto"), parallel);
    }

    /** {@code functions} and {@code function_call}, the deprecated forms, unless they ask for nothing. */
    private static void refuseLegacy(JsonNode body) {
        JsonNode f = RequestParser.present(body, "functions");
        if (f != null && !(f.isArray() && f.isEmpty())) {
            throw ApiException.invalid("functions", "functions is the deprecated form of tools; send tools and tool_choice instead");
        }
        JsonNode fc = RequestParser.present(body, "function_call");
        if (fc != null && !(fc.isTextual() && (fc.asText().equals("none") || fc.asText().equals("auto")))) {
            throw ApiException.invalid("function_call", "function_call is the deprecated form of tool_choice; send tools and tool_choice instead");
        }
    }

    /** Completions have no tools: refuses them (and a tool_choice that asks for a call) by name. */
    static void refuseOnCompletions(JsonNode body) {
        refuseLegacy(body);
        JsonNode t = RequestParser.present(body, "tools");
        if (t != null && !(t.isArray() && t.isEmpty())) {
            throw ApiException.invalid("tools", "tools need /v1/chat/completions");
        }
        JsonNode tc = RequestParser.present(body, "tool_choice");
        if (tc != null && !(tc.isTextual() && (tc.asText().equals("none") || tc.asText().equals("auto")))) {
            throw ApiException.invalid("tool_choice", "tool_choice needs tools, on /v1/chat/completions");
        }
    }

    private static List<Function> functions(JsonNode tools) {
        List<Function> out = new ArrayList<>();
        if (tools == null) {
            return out;
        }
        if (!tools.isArray()) {
            throw ApiException.invalid("tools", "tools must be an array of {\"type\": \"function\", \"function\": {...}}");
        }
        for (int i = 0; i < tools.size(); i++) {
            String field = "tools[" + i + "]";
            JsonNode t = tools.get(i);
            if (!t.isObject() || !"function".equals(t.path("type").asText()) || !t.path("function").isObject()) {
                throw ApiException.invalid(field, field + " must be {\"type\": \"function\", \"function\": {\"name\", \"description\", \"parameters\"}}"
                        + " (only function tools are supported)");
            }
            JsonNode f = t.get("function");
            String name = f.path("name").asText("");
            if (!f.path("name").isTextual() || !NAME.matcher(name).matches()) {
                throw ApiException.invalid(field + ".function.name", field + ".function.name must be 1 to 64 letters, digits, _ or -, got "
                        + f.get("name"));
            }
            for (Function other : out) {
                if (other.name().equals(name)) {
                    throw ApiException.invalid(field + ".function.name", "two tools are named " + name);
                }
            }
            JsonNode d = RequestParser.present(f, "description");
            if (d != null && !d.isTextual()) {
                throw ApiException.invalid(field + ".function.description", field + ".function.description must be a string");
            }
            JsonNode p = RequestParser.present(f, "parameters");
            if (p != null && !p.isObject()) {
                throw ApiException.invalid(field + ".function.parameters", field + ".function.parameters must be a JSON schema (an object)");
            }
            // no parameters: a function without arguments, {}
            String params = p == null ? "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}" : p.toString();
            try {
                JsonSchemaConstraint.check(params);
            } catch (SchemaException e) {
                throw new ApiException(400, "invalid_request_error", field + ".function.parameters",
                        e.keyword() == null ? "invalid_schema" : "unsupported_schema_keyword", e.getMessage());
            }
            out.add(new Function(name, d == null ? "" : d.asText(), params));
        }
        return out;
    }

    /** The constraint of a reply: the calls array, after the marker unless the call is forced. */
    static TokenConstraint constraint(Choice c, StructuredOutputs structured) {
        JsonSchemaConstraint calls = structured.constraint(c.callsSchema(), "tools");
        return c.forced() ? calls : structured.triggered(MARKER, calls);
    }

    /**
     * An assistant message's {@code tool_calls} as the model writes them: the marker and the array of calls.
     *
     * @param field for errors, e.g. {@code messages[2].tool_calls}
     * @param names filled with id to function name, for the tool messages that answer the calls
     */
    static String renderCalls(JsonNode calls, String field, Map<String, String> names) {
        if (!calls.isArray()) {
            throw ApiException.invalid(field, field + " must be an array of tool calls");
        }
        ArrayNode out = JSON.createArrayNode();
        for (int i = 0; i < calls.size(); i++) {
            String f = field + "[" + i + "]";
            JsonNode c = calls.get(i);
            JsonNode fn = c.path("function");
            if (!c.isObject() || !fn.isObject() || !fn.path("name").isTextual()) {
                throw ApiException.invalid(f, f + " must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
            }
            JsonNode args = RequestParser.present(fn, "arguments");
            JsonNode parsed;
            if (args == null) {
                parsed = JSON.createObjectNode();
            } else if (args.isTextual()) {
                try {
                    parsed = args.asText().isBlank() ? JSON.createObjectNode() : JSON.readTree(args.asText());
                } catch (Exception e) {
                    parsed = args; // not JSON: shown to the model as the string it is
                }
            } else {
                parsed = args;
            }
            ObjectNode call = out.addObject();
            call.put("name", fn.get("name").asText());
            call.set("arguments", parsed);
            if (c.path("id").isTextual()) {
                names.put(c.get("id").asText(), fn.get("name").asText());
            }
        }
        return MARKER + out;
    }

    private static JsonNode read(String json) {
        try {
            return JSON.readTree(json);
        } catch (Exception e) {
            throw new IllegalStateException(e); // checked when the tools were parsed
        }
    }

    /** A copy of {@code schema} whose local {@code $ref}s point into it where it now sits, at {@code base}. */
    private static JsonNode rebase(JsonNode schema, String base) {
        if (schema.isObject()) {
            ObjectNode o = JSON.createObjectNode();
            for (Iterator<Map.Entry<String, JsonNode>> it = schema.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                if (e.getKey().equals("$ref") && v.isTextual() && v.asText().startsWith("#")) {
                    o.set("$ref", new TextNode(base + v.asText().substring(1)));
                } else {
                    o.set(e.getKey(), rebase(v, base));
                }
            }
            return o;
        }
        if (schema.isArray()) {
            ArrayNode a = JSON.createArrayNode();
            for (JsonNode v : schema) {
                a.add(rebase(v, base));
            }
            return a;
        }
        return schema;
    }
}
