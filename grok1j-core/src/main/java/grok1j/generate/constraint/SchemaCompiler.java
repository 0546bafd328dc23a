package grok1j.generate.constraint;

import grok1j.format.Json;
import grok1j.generate.constraint.SchemaNode.AnyOfNode;
import grok1j.generate.constraint.SchemaNode.ArrayNode;
import grok1j.generate.constraint.SchemaNode.LiteralNode;
import grok1j.generate.constraint.SchemaNode.NumberNode;
import grok1j.generate.constraint.SchemaNode.ObjectNode;
import grok1j.generate.constraint.SchemaNode.RefNode;
import grok1j.generate.constraint.SchemaNode.StringNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles a JSON schema (parsed by {@link Json}) into {@link SchemaNode}s. Every keyword is either used or refused
 * with a {@link SchemaException} naming it: a constraint never silently generates documents the schema rejects.
 */
final class SchemaCompiler {
    /** Keywords that describe and never change which documents are valid. */
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$schema",
            "$id", "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict");
    private static final Set<String> OBJECT_KEYWORDS = Set.of("properties", "required", "additionalProperties");
    private static final Set<String> ARRAY_KEYWORDS = Set.of("items", "minItems", "maxItems");
    private static final Set<String> STRING_KEYWORDS = Set.of("minLength", "maxLength");
    private static final Set<String> TYPES = Set.of("object", "array", "string", "number", "integer", "boolean", "null");

    private final Object root;
    private final List<SchemaNode> nodes = new ArrayList<>();
    private final Map<String, RefNode> refs = new HashMap<>();
    private SchemaNode any;

    private SchemaCompiler(Object root) {
        this.root = root;
    }

    /**
     * @param schemaJson a JSON schema (a subset of draft 2020-12; see README "Structured outputs")
     * @return the root node
     * @throws SchemaException for an unsupported keyword, an unusable value or a schema with no finite document
     */
    static SchemaNode compile(String schemaJson) {
        Object parsed;
        try {
            parsed = Json.parse(schemaJson);
        } catch (IllegalArgumentException e) {
            throw new SchemaException(null, "the schema is not valid JSON: " + e.getMessage());
        }
        return compileParsed(parsed);
    }

    /** As {@link #compile(String)} for a schema already parsed by {@link Json#parse}. */
    static SchemaNode compileParsed(Object schema) {
        SchemaCompiler c = new SchemaCompiler(schema);
        SchemaNode node = c.node(schema, "#");
        c.resolveRefs();
        c.fixMinBytes();
        if (node.minBytes >= SchemaNode.INFINITE) {
            throw new SchemaException(null, "the schema admits no finite document");
        }
        return node;
    }

    /** Any JSON value: the schema {@code {}} and the values of {@code json_object}. */
    static SchemaNode anyValue(List<SchemaNode> registry) {
        AnyOfNode any = new AnyOfNode(null);
        ArrayNode array = new ArrayNode(any, 0, -1);
        ObjectNode object = new ObjectNode(new String[0], new byte[0][], new SchemaNode[0], new boolean[0], any);
        any.alternatives = new SchemaNode[] {object, array, new StringNode(0, -1), new NumberNode(false),
                new LiteralNode(new byte[][] {bytes("true"), bytes("false"), bytes("null")})};
        registry.add(any);
        registry.add(array);
        registry.add(object);
        for (SchemaNode a : any.alternatives) {
            if (!registry.contains(a)) {
                registry.add(a);
            }
        }
        return any;
    }

    /** A JSON object with any keys and values ({@code response_format: json_object}). */
    static SchemaNode anyObject() {
        List<SchemaNode> registry = new ArrayList<>();
        SchemaNode any = anyValue(registry);
        for (int round = 0; round < 4; round++) {
            for (SchemaNode n : registry) {
                n.updateMinBytes();
            }
        }
        return ((AnyOfNode) any).alternatives[0];
    }

    private SchemaNode any() {
        if (any == null) {
            any = anyValue(nodes);
        }
        return any;
    }

    private <T extends SchemaNode> T add(T n) {
        nodes.add(n);
        return n;
    }

    private SchemaNode node(Object schema, String path) {
        if (schema instanceof Boolean b) {
            if (!b) {
                throw new SchemaException(null, "the schema false at " + path + " admits no document");
            }
            return any();
        }
        if (!(schema instanceof Map<?, ?> raw)) {
            throw new SchemaException(null, "a schema must be an object or a boolean, got " + Json.quote(String.valueOf(schema)) + " at " + path);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> s = (Map<String, Object>) raw;
        Set<String> validating = new java.util.LinkedHashSet<>(s.keySet());
        validating.removeAll(ANNOTATIONS);
        for (String k : validating) {
            if (!k.equals("type") && !k.equals("enum") && !k.equals("const") && !k.equals("anyOf") && !k.equals("$ref")
                    && !OBJECT_KEYWORDS.contains(k) && !ARRAY_KEYWORDS.contains(k) && !STRING_KEYWORDS.contains(k)) {
                throw new SchemaException(k, "the schema keyword \"" + k + "\" (at " + path + ") is not supported");
            }
        }
        if (s.containsKey("$ref")) {
            alone(validating, "$ref", path);
            return ref(s.get("$ref"), path);
        }
        if (s.containsKey("anyOf")) {
            alone(validating, "anyOf", path);
            if (!(s.get("anyOf") instanceof List<?> alts) || alts.isEmpty()) {
                throw new SchemaException("anyOf", "anyOf must be a non-empty array (at " + path + ")");
            }
            SchemaNode[] a = new SchemaNode[alts.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = node(alts.get(i), path + "/anyOf/" + i);
            }
            return add(new AnyOfNode(a));
        }
        List<String> types = types(s, path);
        if (s.containsKey("enum") || s.containsKey("const")) {
            return literals(s, validating, types, path);
        }
        if (types == null) {
            // no type: generate the kind the other keywords describe, or any value
            if (validating.stream().anyMatch(OBJECT_KEYWORDS::contains)) {
                types = List.of("object");
            } else if (validating.stream().anyMatch(ARRAY_KEYWORDS::contains)) {
                types = List.of("array");
            } else if (validating.stream().anyMatch(STRING_KEYWORDS::contains)) {
                types = List.of("string");
            } else {
                return any();
            }
        }
        for (String k : validating) {
            boolean used = k.equals("type") || (OBJECT_KEYWORDS.contains(k) && types.contains("object"))
                    || (ARRAY_KEYWORDS.contains(k) && types.contains("array"))
                    || (STRING_KEYWORDS.contains(k) && types.contains("string"));
            if (!used) {
                throw new SchemaException(k, "the schema keyword \"" + k + "\" (at " + path + ") does not apply to type " + types);
            }
        }
        if (types.size() == 1) {
            return typed(types.get(0), s, path);
        }
        SchemaNode[] a = new SchemaNode[types.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = typed(types.get(i), s, path);
        }
        return add(new AnyOfNode(a));
    }

    private static void alone(Set<String> validating, String keyword, String path) {
        for (String k : validating) {
            if (!k.equals(keyword)) {
                throw new SchemaException(k, "the schema keyword \"" + k + "\" beside \"" + keyword + "\" (at " + path
                        + ") is not supported; move it into the " + keyword + (keyword.equals("anyOf") ? " alternatives" : " target"));
            }
        }
    }

    private static List<String> types(Map<String, Object> s, String path) {
        Object t = s.get("type");
        if (t == null) {
            return null;
        }
        List<String> types = new ArrayList<>();
        if (t instanceof String one) {
            types.add(one);
        } else if (t instanceof List<?> many && !many.isEmpty()) {
            for (Object o : many) {
                types.add(String.valueOf(o));
            }
        } else {
            throw new SchemaException("type", "type must be a type name or a non-empty array of them (at " + path + ")");
        }
        for (String name : types) {
            if (!TYPES.contains(name)) {
                throw new SchemaException("type", "unknown type \"" + name + "\" (at " + path + ")");
            }
        }
        return types;
    }

    private SchemaNode typed(String type, Map<String, Object> s, String path) {
        return switch (type) {
            case "object" -> object(s, path);
            case "array" -> array(s, path);
            case "string" -> {
                int min = count(s, "minLength", 0, path);
                int max = count(s, "maxLength", -1, path);
                if (max >= 0 && max < min) {
                    throw new SchemaException("maxLength", "maxLength " + max + " is below minLength " + min + " (at " + path + ")");
                }
                yield add(new StringNode(min, max));
            }
            case "number" -> add(new NumberNode(false));
            case "integer" -> add(new NumberNode(true));
            case "boolean" -> add(new LiteralNode(new byte[][] {bytes("true"), bytes("false")}));
            default -> add(new LiteralNode(new byte[][] {bytes("null")}));
        };
    }

    private SchemaNode object(Map<String, Object> s, String path) {
        Map<String, Object> props = new LinkedHashMap<>();
        if (s.containsKey("properties")) {
            if (!(s.get("properties") instanceof Map<?, ?> p)) {
                throw new SchemaException("properties", "properties must be an object (at " + path + ")");
            }
            p.forEach((k, v) -> props.put((String) k, v));
        }
        List<String> required = new ArrayList<>();
        if (s.containsKey("required")) {
            if (!(s.get("required") instanceof List<?> r)) {
                throw new SchemaException("required", "required must be an array of names (at " + path + ")");
            }
            for (Object o : r) {
                if (!(o instanceof String name)) {
                    throw new SchemaException("required", "required must be an array of names (at " + path + ")");
                }
                required.add(name);
            }
        }
        Object additional = s.getOrDefault("additionalProperties", Boolean.TRUE);
        boolean closed = Boolean.FALSE.equals(additional);
        for (String r : required) {
            if (!props.containsKey(r)) {
                if (closed) {
                    throw new SchemaException("required", "\"" + r + "\" is required but not among the properties, and"
                            + " additionalProperties is false (at " + path + ")");
                }
                props.put(r, additional); // generated like any additional property
            }
        }
        if (props.isEmpty() && !closed) {
            // no declared properties: any keys, values per additionalProperties
            SchemaNode value = node(additional, path + "/additionalProperties");
            return add(new ObjectNode(new String[0], new byte[0][], new SchemaNode[0], new boolean[0], value));
        }
        // Declared properties only, in order: a valid document whatever additionalProperties allows.
        if (!(additional instanceof Boolean)) {
            node(additional, path + "/additionalProperties"); // still checked for unsupported keywords
        }
        int n = props.size();
        String[] names = props.keySet().toArray(new String[0]);
        byte[][] keys = new byte[n][];
        SchemaNode[] values = new SchemaNode[n];
        boolean[] req = new boolean[n];
        for (int i = 0; i < n; i++) {
            String q = Json.quote(names[i]);
            keys[i] = bytes(q.substring(1, q.length() - 1));
            values[i] = node(props.get(names[i]), path + "/properties/" + names[i]);
            req[i] = required.contains(names[i]);
        }
        return add(new ObjectNode(names, keys, values, req, null));
    }

    private SchemaNode array(Map<String, Object> s, String path) {
        Object items = s.getOrDefault("items", Boolean.TRUE);
        if (items instanceof List<?>) {
            throw new SchemaException("items", "items as an array of schemas (tuples) is not supported (at " + path + ")");
        }
        int min = count(s, "minItems", 0, path);
        int max = count(s, "maxItems", -1, path);
        if (max >= 0 && max < min) {
            throw new SchemaException("maxItems", "maxItems " + max + " is below minItems " + min + " (at " + path + ")");
        }
        ArrayNode a = add(new ArrayNode(null, min, max));
        a.items = node(items, path + "/items");
        return a;
    }

    private static int count(Map<String, Object> s, String keyword, int absent, String path) {
        Object v = s.get(keyword);
        if (v == null) {
            return absent;
        }
        if (!(v instanceof Long l) || l < 0 || l > 1_000_000) {
            throw new SchemaException(keyword, keyword + " must be an integer in [0, 1000000], got " + v + " (at " + path + ")");
        }
        return (int) (long) l;
    }

    private SchemaNode literals(Map<String, Object> s, Set<String> validating, List<String> types, String path) {
        for (String k : validating) {
            if (!k.equals("type") && !k.equals("enum") && !k.equals("const")) {
                throw new SchemaException(k, "the schema keyword \"" + k + "\" beside enum/const (at " + path + ") is not supported");
            }
        }
        List<Object> values = new ArrayList<>();
        if (s.containsKey("const")) {
            values.add(s.get("const"));
        }
        if (s.containsKey("enum")) {
            if (!(s.get("enum") instanceof List<?> e) || e.isEmpty()) {
                throw new SchemaException("enum", "enum must be a non-empty array (at " + path + ")");
            }
            if (s.containsKey("const")) {
                values.retainAll(e);
            } else {
                values.addAll(e);
            }
        }
        List<byte[]> out = new ArrayList<>();
        for (Object v : values) {
            if (types == null || types.stream().anyMatch(t -> isOfType(v, t))) {
                byte[] b = bytes(serialize(v));
                if (out.stream().noneMatch(x -> java.util.Arrays.equals(x, b))) {
                    out.add(b);
                }
            }
        }
        if (out.isEmpty()) {
            throw new SchemaException(s.containsKey("enum") ? "enum" : "const", "no enum/const value satisfies the schema at " + path);
        }
        return add(new LiteralNode(out.toArray(new byte[0][])));
    }

    private static boolean isOfType(Object v, String type) {
        return switch (type) {
            case "object" -> v instanceof Map;
            case "array" -> v instanceof List;
            case "string" -> v instanceof String;
            case "number" -> v instanceof Number;
            case "integer" -> v instanceof Long || (v instanceof Double d && d == Math.rint(d) && !Double.isInfinite(d));
            case "boolean" -> v instanceof Boolean;
            default -> v == null;
        };
    }

    /** Compact JSON, as the literal is generated. */
    static String serialize(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof String str) {
            return Json.quote(str);
        }
        if (v instanceof Double d) {
            return Double.toString(d).replace('E', 'e');
        }
        if (v instanceof Map<?, ?> m) {
            StringBuilder b = new StringBuilder("{");
            m.forEach((k, x) -> b.append(b.length() > 1 ? "," : "").append(Json.quote((String) k)).append(':').append(serialize(x)));
            return b.append('}').toString();
        }
        if (v instanceof List<?> l) {
            StringBuilder b = new StringBuilder("[");
            for (Object x : l) {
                b.append(b.length() > 1 ? "," : "").append(serialize(x));
            }
            return b.append(']').toString();
        }
        return v.toString(); // Long, Boolean
    }

    private SchemaNode ref(Object ref, String path) {
        if (!(ref instanceof String pointer) || !pointer.startsWith("#")) {
            throw new SchemaException("$ref", "$ref must be a local reference such as \"#/$defs/name\", got "
                    + Json.quote(String.valueOf(ref)) + " (at " + path + ")");
        }
        return refs.computeIfAbsent(pointer, p -> add(new RefNode()));
    }

    /** Compiles each referenced subschema once; references among them are resolved the same way. */
    private void resolveRefs() {
        Map<String, SchemaNode> done = new HashMap<>();
        boolean more = true;
        while (more) {
            more = false;
            for (Map.Entry<String, RefNode> e : new ArrayList<>(refs.entrySet())) {
                if (!done.containsKey(e.getKey())) {
                    SchemaNode target = node(lookup(e.getKey()), e.getKey());
                    done.put(e.getKey(), target);
                    e.getValue().target = target;
                    more = true;
                }
            }
        }
        for (RefNode r : refs.values()) {
            // a chain of references ending in itself has no document
            SchemaNode t = r.target;
            int hops = 0;
            while (t instanceof RefNode next && hops++ < refs.size() + 1) {
                t = next.target;
            }
            if (t instanceof RefNode) {
                throw new SchemaException("$ref", "$ref cycle without a document at " + path(r));
            }
        }
    }

    private String path(RefNode r) {
        return refs.entrySet().stream().filter(e -> e.getValue() == r).map(Map.Entry::getKey).findFirst().orElse("?");
    }

    private Object lookup(String pointer) {
        Object at = root;
        if (pointer.equals("#")) {
            return at;
        }
        if (!pointer.startsWith("#/")) {
            throw new SchemaException("$ref", "$ref \"" + pointer + "\" is not a JSON pointer into this schema");
        }
        for (String raw : pointer.substring(2).split("/", -1)) {
            String token = java.net.URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8)
                    .replace("~1", "/").replace("~0", "~");
            if (at instanceof Map<?, ?> m && m.containsKey(token)) {
                at = m.get(token);
            } else if (at instanceof List<?> l && token.matches("\\d+") && Integer.parseInt(token) < l.size()) {
                at = l.get(Integer.parseInt(token));
            } else {
                throw new SchemaException("$ref", "$ref \"" + pointer + "\" points to nothing in the schema");
            }
        }
        return at;
    }

    private void fixMinBytes() {
        boolean changed = true;
        for (int round = 0; changed && round < 10_000; round++) {
            changed = false;
            for (SchemaNode n : nodes) {
                changed |= n.updateMinBytes();
            }
        }
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
