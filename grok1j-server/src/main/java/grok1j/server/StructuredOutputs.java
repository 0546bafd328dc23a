package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import grok1j.generate.constraint.JsonSchemaConstraint;
import grok1j.generate.constraint.SchemaException;
import grok1j.generate.constraint.TokenConstraint;
import grok1j.generate.constraint.TokenIndex;
import grok1j.generate.constraint.TriggeredConstraint;
import grok1j.tokenizer.Tokenizer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code response_format}: {@code {"type": "text"}} (the default), {@code {"type": "json_object"}} or
 * {@code {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}}. A JSON format constrains decoding
 * (README "Structured outputs") and, for chat, is also stated to the model in a system message placed after the
 * conversation (see {@link #instruction}), since a model that is told the schema writes better values.
 *
 * <p>Compiled constraints are kept per schema text (least recently used first out), so repeated requests with the
 * same schema reuse its cached token masks. Thread-safe.
 */
final class StructuredOutputs {
    /** Distinct schemas whose compiled constraint (and mask cache) is kept. */
    static final int KEPT = 32;

    private final Tokenizer tokenizer;
    private volatile TokenIndex index;
    private JsonSchemaConstraint anyObject;
    private final Map<String, JsonSchemaConstraint> bySchema = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, JsonSchemaConstraint> eldest) {
            return size() > KEPT;
        }
    };

    private final Map<JsonSchemaConstraint, TriggeredConstraint> triggered = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<JsonSchemaConstraint, TriggeredConstraint> eldest) {
            return size() > KEPT;
        }
    };

    StructuredOutputs(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** A parsed {@code response_format}: the constraint, and what the chat prompt tells the model. */
    record Format(TokenConstraint constraint, String instruction) {
    }

    /**
     * @return the format, or null for plain text (absent, null or {@code {"type": "text"}})
     * @throws ApiException 400 naming {@code response_format} (or the unsupported schema keyword)
     */
    Format parse(JsonNode body) {
        JsonNode rf = RequestParser.present(body, "response_format");
        if (rf == null) {
            return null;
        }
        if (!rf.isObject() || !rf.path("type").isTextual()) {
            throw ApiException.invalid("response_format", "response_format must be an object with a type: text, json_object or json_schema");
        }
        switch (rf.get("type").asText()) {
            case "text":
                return null;
            case "json_object":
                return new Format(anyObject(), "Reply with a JSON object.");
            case "json_schema": {
                JsonNode js = rf.get("json_schema");
                if (js == null || !js.isObject()) {
                    throw ApiException.invalid("response_format.json_schema", "response_format.json_schema must be an object with a schema");
                }
                JsonNode schema = js.get("schema");
                if (schema == null || !(schema.isObject() || schema.isBoolean())) {
                    throw ApiException.invalid("response_format.json_schema.schema",
                            "response_format.json_schema.schema must be a JSON schema (an object)");
                }
                String text = schema.toString();
                String name = js.path("name").isTextual() ? js.get("name").asText() : null;
                return new Format(constraint(text), (name == null ? "Reply with JSON" : "Reply with a JSON " + name)
                        + " that matches this JSON schema: " + text);
            }
            default:
                throw ApiException.invalid("response_format.type", "response_format.type must be text, json_object or json_schema, got "
                        + rf.get("type").asText());
        }
    }

    /**
     * The constraint for a schema given as JSON text.
     *
     * @throws ApiException 400 naming the unsupported keyword
     */
    JsonSchemaConstraint constraint(String schemaJson) {
        return constraint(schemaJson, "response_format.json_schema.schema");
    }

    /**
     * Free text, or {@code trigger} then a document of {@code then} (tool calls under {@code tool_choice: "auto"}).
     * Kept per {@code then}, so the open states' masks are computed once.
     */
    TriggeredConstraint triggered(String trigger, JsonSchemaConstraint then) {
        synchronized (triggered) {
            return triggered.computeIfAbsent(then, t -> new TriggeredConstraint(index(), trigger, t));
        }
    }

    /**
     * The constraint for a schema given as JSON text.
     *
     * @param param the request field to name in an error
     * @throws ApiException 400 naming the unsupported keyword
     */
    JsonSchemaConstraint constraint(String schemaJson, String param) {
        synchronized (bySchema) {
            JsonSchemaConstraint c = bySchema.get(schemaJson);
            if (c != null) {
                return c;
            }
        }
        JsonSchemaConstraint c;
        try {
            c = JsonSchemaConstraint.compile(schemaJson, index());
        } catch (SchemaException e) {
            throw new ApiException(400, "invalid_request_error", param,
                    e.keyword() == null ? "invalid_schema" : "unsupported_schema_keyword", e.getMessage());
        }
        synchronized (bySchema) {
            bySchema.put(schemaJson, c);
        }
        return c;
    }

    private synchronized JsonSchemaConstraint anyObject() {
        if (anyObject == null) {
            anyObject = JsonSchemaConstraint.anyObject(index());
        }
        return anyObject;
    }

    /** Built on first use: a server that never sees response_format never pays for the token trie. */
    private TokenIndex index() {
        TokenIndex i = index;
        if (i == null) {
            i = TokenIndex.of(tokenizer);
            index = i;
        }
        return i;
    }
}
