package grok1j.generate.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import grok1j.TestFiles;
import grok1j.generate.FinishReason;
import grok1j.generate.GenerationContext;
import grok1j.generate.GenerationResult;
import grok1j.generate.LogitsProcessing;
import grok1j.generate.SamplingParams;
import grok1j.generate.Sequence;
import grok1j.model.Transformer;
import grok1j.model.KvCache;
import grok1j.model.Model;
import grok1j.tensor.ThreadPool;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Structured outputs on {@code fixtures/grok-1-tiny} (random weights, so any valid document will do): for every
 * schema, 50 seeded samples (run as one batch) each parse and validate against the schema with networknt's
 * validator, and greedy decoding streams the same text it returns.
 */
class ConstrainedGenerationTest {
    static final int SAMPLES = 50;
    static final ObjectMapper JSON = new ObjectMapper();
    static final SchemaRegistry VALIDATORS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    static Model model;
    static TokenIndex index;

    @BeforeAll
    static void load() throws Exception {
        model = Model.open(TestFiles.tinyModel(), null, new ThreadPool(2));
        index = TokenIndex.of(model.tokenizer());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** Every supported keyword appears in at least one schema. */
    static List<String> schemas() {
        return List.of(
                """
                {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},
                 "required":["name","age"],"additionalProperties":false}""",
                """
                {"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"type":"number"}},
                 "required":["b"]}""",
                """
                {"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4}""",
                """
                {"type":"string","minLength":3,"maxLength":8}""",
                """
                {"type":"number"}""",
                """
                {"type":"integer"}""",
                """
                {"type":"boolean"}""",
                """
                {"type":"null"}""",
                """
                {"enum":["red","green","blue"]}""",
                """
                {"enum":[1,12,"x",null,true,{"a":[1]}]}""",
                """
                {"const":{"k":"v"}}""",
                """
                {"anyOf":[{"type":"string","maxLength":5},{"type":"integer"},
                 {"type":"object","properties":{"x":{"type":"null"}},"required":["x"],"additionalProperties":false}]}""",
                """
                {"type":["string","null"],"maxLength":4}""",
                """
                {"$defs":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},
                 "required":["x","y"],"additionalProperties":false}},"type":"array","items":{"$ref":"#/$defs/point"},"maxItems":3}""",
                """
                {"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},
                 "children":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},
                 "required":["value"],"additionalProperties":false}},"$ref":"#/$defs/node"}""",
                """
                {"type":"object"}""",
                """
                {}""",
                """
                {"type":"object","properties":{"inner":{"type":"object","properties":{"id":{"type":"integer"},
                 "tags":{"type":"array","items":{"type":"string","maxLength":6},"maxItems":3}},"required":["id","tags"],
                 "additionalProperties":false}},"required":["inner"],"additionalProperties":false}""",
                """
                {"type":"object","additionalProperties":{"type":"integer"}}""",
                """
                {"type":"object","properties":{"text":{"type":"string","maxLength":20}},"required":["text"]}""",
                """
                {"definitions":{"c":{"enum":["a","b"]}},"type":"object","title":"T","description":"d",
                 "properties":{"c":{"$ref":"#/definitions/c"}},"required":["c"]}""",
                """
                {"type":"array","items":{"anyOf":[{"type":"boolean"},{"type":"string","maxLength":3}]},"minItems":1}""",
                """
                {"type":"array","maxItems":0}""",
                """
                {"type":"object","properties":{"a \\"q\\"":{"type":"integer"},"\u00fc":{"type":"boolean"}},
                 "required":["a \\"q\\"","\u00fc"],"additionalProperties":false}""");
    }

    @ParameterizedTest
    @MethodSource("schemas")
    void seededSamplesValidate(String schemaJson) throws Exception {
        JsonSchemaConstraint constraint = JsonSchemaConstraint.compile(schemaJson, index);
        Schema validator = VALIDATORS.getSchema(schemaJson);
        // bounded for speed: room for the shortest document (at most a token per byte) and some sampling
        int maxTokens = SchemaCompiler.compile(schemaJson).minBytes + 12;
        for (GenerationResult r : sampleBatch(constraint, maxTokens)) {
            assertEquals(FinishReason.STOP, r.finishReason(), () -> "cut short: " + r.text());
            JsonNode doc = JSON.readTree(r.text());
            assertTrue(validator.validate(doc).isEmpty(), () -> r.text() + " fails " + validator.validate(doc));
        }
    }

    /** {@link #SAMPLES} seeded samples of "JSON:" under {@code constraint}, run as one batch. */
    static List<GenerationResult> sampleBatch(JsonSchemaConstraint constraint, int maxTokens) {
        Transformer net = model.network();
        int[] prompt = model.tokenizer().encode("JSON:");
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < SAMPLES; i++) {
            SamplingParams p = new SamplingParams(1.0, 0, 1, 0.05, 1000L + i, maxTokens, List.of(), false,
                    LogitsProcessing.NONE.withConstraint(constraint));
            seqs.add(new Sequence(net, model.tokenizer(), new KvCache(model.config()), prompt, p));
        }
        List<Sequence> active = new ArrayList<>(seqs);
        while (!active.isEmpty()) {
            List<Transformer.Step> steps = new ArrayList<>();
            for (Sequence s : active) {
                steps.add(s.nextStep());
            }
            List<float[]> logits = net.forward(steps);
            for (int i = 0; i < active.size(); i++) {
                active.get(i).accept(logits.get(i));
            }
            active.removeIf(Sequence::finished);
        }
        List<GenerationResult> out = new ArrayList<>();
        for (Sequence s : seqs) {
            out.add(s.result());
        }
        return out;
    }

    /**
     * Issue 12: with a budget of 5 to 8 tokens, below the document's shortest completion in bytes, the sample must not
     * spend it on whitespace: every document here completes (these schemas have tokens long enough to).
     */
    @ParameterizedTest
    @MethodSource("shortBudgetSchemas")
    void shortBudgetsStillCompleteTheDocument(String schemaJson, int maxTokens) throws Exception {
        JsonSchemaConstraint constraint = JsonSchemaConstraint.compile(schemaJson, index);
        Schema validator = VALIDATORS.getSchema(schemaJson);
        int cut = 0;
        for (GenerationResult r : sampleBatch(constraint, maxTokens)) {
            assertTrue(r.ids().length <= maxTokens);
            if (r.finishReason() != FinishReason.STOP) {
                cut++;
                System.err.println("cut: " + r.text());
                continue;
            }
            assertFalse(Character.isWhitespace(r.text().charAt(0)) && Character.isWhitespace(r.text().charAt(1)), r.text());
            JsonNode doc = JSON.readTree(r.text());
            assertTrue(validator.validate(doc).isEmpty(), () -> r.text() + " fails " + validator.validate(doc));
        }
        assertEquals(0, cut, cut + " of " + SAMPLES + " samples were cut short");
    }

    static List<Arguments> shortBudgetSchemas() {
        return List.of(
                Arguments.of("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}", 5),
                Arguments.of("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"rain\":{\"type\":\"boolean\"}},"
                        + "\"required\":[\"city\",\"rain\"],\"additionalProperties\":false}", 8),
                Arguments.of("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2}", 5),
                Arguments.of("{\"type\":\"object\"}", 5));
    }

    @ParameterizedTest
    @MethodSource("schemas")
    void greedyStreamsWhatItReturns(String schemaJson) throws Exception {
        JsonSchemaConstraint constraint = JsonSchemaConstraint.compile(schemaJson, index);
        GenerationContext ctx = model.newContext();
        StringBuilder streamed = new StringBuilder();
        SamplingParams p = SamplingParams.greedy(SchemaCompiler.compile(schemaJson).minBytes + 12).withProcessing(LogitsProcessing.NONE.withConstraint(constraint));
        GenerationResult r = ctx.generate("JSON:", p, (id, text) -> streamed.append(text));
        assertEquals(r.text(), streamed.toString());
        assertTrue(VALIDATORS.getSchema(schemaJson).validate(JSON.readTree(r.text())).isEmpty(), r.text());
        GenerationResult again = model.newContext().generate("JSON:", p, (id, text) -> { });
        assertEquals(r.text(), again.text());
    }
}
