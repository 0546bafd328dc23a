package grok1j.generate.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The matcher on a small synthetic vocabulary (every byte, a few multi-byte pieces, an EOS): which documents it takes,
 * which it refuses, how it masks, and which schemas it refuses to compile.
 */
class JsonSchemaConstraintTest {
    static final List<byte[]> PIECES = new ArrayList<>();
    static final int EOS;

    static {
        for (int b = 0; b < 256; b++) {
            PIECES.add(new byte[] {(byte) b});
        }
        for (String s : List.of("{\"", "\":", "\",\"", "\"}", "true", "null", " \"", "12", "name", "\u00e9t\u00e9", "\\n")) {
            PIECES.add(s.getBytes(StandardCharsets.UTF_8));
        }
        EOS = PIECES.size();
        PIECES.add(null);
    }

    static final TokenIndex INDEX = TokenIndex.of(new TokenBytes() {
        @Override
        public int size() {
            return PIECES.size();
        }

        @Override
        public byte[] bytes(int id) {
            return PIECES.get(id);
        }

        @Override
        public int eosId() {
            return EOS;
        }
    });

    /** Feeds text byte by byte; @return the matcher, or null if some byte was refused. */
    static TokenConstraint.Matcher feed(String schema, String text) {
        TokenConstraint.Matcher m = JsonSchemaConstraint.compile(schema, INDEX).start();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            float[] logits = new float[PIECES.size()];
            m.mask(logits, 1000);
            if (logits[b & 0xFF] == Float.NEGATIVE_INFINITY) {
                return null;
            }
            m.accept(b & 0xFF);
        }
        return m;
    }

    static boolean accepts(String schema, String text) {
        TokenConstraint.Matcher m = feed(schema, text);
        return m != null && m.complete();
    }

    @Test
    void objectsFollowPropertiesRequiredAndOrder() {
        String s = """
                {"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["b"],
                 "additionalProperties":false}""";
        assertTrue(accepts(s, "{\"a\":1,\"b\":\"x\"}"));
        assertTrue(accepts(s, "{ \"b\" : \"\" }"));
        assertFalse(accepts(s, "{\"a\":1}"), "b is required");
        assertFalse(accepts(s, "{\"b\":\"x\",\"a\":1}"), "declaration order");
        assertFalse(accepts(s, "{\"c\":1}"));
        assertFalse(accepts(s, "{\"a\":1.5,\"b\":\"x\"}"), "integer");
        assertTrue(feed(s, "{\"b\":\"x\"}").finished());
    }

    @Test
    void stringsTakeEscapesUtf8AndLengthBounds() {
        String s = "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}";
        assertTrue(accepts(s, "\"\u00e9\\n\""));
        assertTrue(accepts(s, "\"\\u00e9x\""));
        assertFalse(accepts(s, "\"a\""), "minLength");
        assertFalse(accepts(s, "\"abcd\""), "maxLength");
        assertFalse(accepts(s, "\"a\nb\""), "raw control character");
        assertFalse(accepts(s, "\"\\q\""), "bad escape");
        assertFalse(accepts(s, "\"\\ud800x\""), "surrogate escape");
        TokenConstraint.Matcher m = JsonSchemaConstraint.compile("{\"type\":\"string\"}", INDEX).start();
        m.accept('"');
        float[] logits = new float[PIECES.size()];
        m.mask(logits, 1000);
        assertEquals(Float.NEGATIVE_INFINITY, logits[0xC0], "overlong lead byte");
        assertEquals(0f, logits[0xC3]);
        assertEquals(0f, logits[PIECES.size() - 3], "a piece of whole characters");
    }

    @Test
    void numbersIntegersAndLiterals() {
        assertTrue(accepts("{\"type\":\"number\"}", "-0.5e+12"));
        assertFalse(accepts("{\"type\":\"number\"}", "01"));
        assertFalse(accepts("{\"type\":\"integer\"}", "1.0"));
        assertTrue(accepts("{\"type\":\"boolean\"}", "false"));
        assertTrue(accepts("{\"type\":\"null\"}", "null"));
        assertTrue(accepts("{\"enum\":[1,12,\"x\"]}", "12"));
        assertTrue(accepts("{\"enum\":[1,12,\"x\"]}", "1"));
        assertFalse(accepts("{\"enum\":[1,12,\"x\"]}", "2"));
        assertTrue(accepts("{\"const\":{\"k\":[true]}}", "{\"k\":[true]}"));
        assertFalse(accepts("{\"const\":{\"k\":[true]}}", "{\"k\": [true]}"), "literals are compact");
    }

    @Test
    void arraysAnyOfRefs() {
        String a = "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}";
        assertFalse(accepts(a, "[]"));
        assertTrue(accepts(a, "[1, 2]"));
        assertFalse(accepts(a, "[1,2,3]"));
        String any = "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}]}";
        assertTrue(accepts(any, "[[1],[],[[2]]]"));
        assertFalse(accepts(any, "[\"x\"]"));
        String defs = "{\"$defs\":{\"n\":{\"type\":\"null\"}},\"type\":\"object\",\"properties\":{\"v\":{\"$ref\":\"#/$defs/n\"}},\"required\":[\"v\"]}";
        assertTrue(accepts(defs, "{\"v\":null}"));
        assertTrue(accepts("{\"type\":\"object\"}", "{\"x\":[1,{\"y\":\"z\"}],\"w\":null}"));
    }

    @Test
    void eosOnlyWhenComplete() {
        TokenConstraint.Matcher m = feed("{\"type\":\"number\"}", "12");
        float[] logits = new float[PIECES.size()];
        m.mask(logits, 10);
        assertEquals(0f, logits[EOS]);
        assertFalse(m.finished(), "a number may go on");
        TokenConstraint.Matcher open = feed("{\"type\":\"number\"}", "-");
        logits = new float[PIECES.size()];
        open.mask(logits, 10);
        assertEquals(Float.NEGATIVE_INFINITY, logits[EOS]);
    }

    @Test
    void fewTokensLeftForceTheShortestCompletion() {
        String s = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}";
        TokenConstraint.Matcher m = feed(s, "{\"name\":\"ab");
        float[] logits = new float[PIECES.size()];
        m.mask(logits, 2); // this token must close the string, leaving only "}"
        List<String> allowed = new ArrayList<>();
        for (int id = 0; id < PIECES.size(); id++) {
            if (logits[id] == 0f) {
                allowed.add(new String(PIECES.get(id), StandardCharsets.UTF_8));
            }
        }
        assertEquals(List.of("\"", "{\"", "\"}", " \""), allowed);
        m.mask(logits = new float[PIECES.size()], 3);
        assertTrue(logits['x'] == 0f, "with room to spare, the string may go on");
    }

    @Test
    void unsupportedKeywordsAreNamed() {
        for (String k : List.of("pattern", "oneOf", "allOf", "minimum", "format", "uniqueItems", "prefixItems", "not")) {
            String schema = "{\"type\":\"string\",\"" + k + "\":1}";
            SchemaException e = assertThrows(SchemaException.class, () -> JsonSchemaConstraint.compile(schema, INDEX));
            assertEquals(k, e.keyword(), e.getMessage());
            assertTrue(e.getMessage().contains("\"" + k + "\""), e.getMessage());
        }
        assertEquals("minLength", assertThrows(SchemaException.class,
                () -> JsonSchemaConstraint.compile("{\"type\":\"integer\",\"minLength\":1}", INDEX)).keyword());
        assertEquals("$ref", assertThrows(SchemaException.class,
                () -> JsonSchemaConstraint.compile("{\"$ref\":\"#/$defs/missing\"}", INDEX)).keyword());
        assertEquals("$ref", assertThrows(SchemaException.class,
                () -> JsonSchemaConstraint.compile("{\"$ref\":\"http://example.com/s.json\"}", INDEX)).keyword());
        assertThrows(SchemaException.class, () -> JsonSchemaConstraint.compile("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}", INDEX));
        assertThrows(SchemaException.class, () -> JsonSchemaConstraint.compile("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}", INDEX),
                "no finite document");
        assertThrows(SchemaException.class, () -> JsonSchemaConstraint.compile("not json", INDEX));
    }
}
