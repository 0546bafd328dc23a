package grok1j.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Locates the shared fixtures and parses the tokenizer JSONL fixture (without a JSON library). */
final class TokenizerFixtures {
    private TokenizerFixtures() {
    }

    /** One line of a {@code fixtures/tokenizer/*.jsonl} file. */
    record Case(int line, String tag, String text, int[] ids) {
        @Override
        public String toString() {
            return "line " + line + " (" + tag + ")";
        }
    }

    /** The shared directory: system property {@code grok1j.shared}, set by the parent pom. */
    static Path sharedDir() {
        String property = System.getProperty("grok1j.shared");
        Path dir = property != null ? Path.of(property) : Path.of("../../shared");
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("shared fixtures not found at " + dir.toAbsolutePath()
                    + " (set -Dgrok1j.shared)");
        }
        return dir;
    }

    static Path tokenizerModel() {
        return sharedDir().resolve("models/grok-1/tokenizer.model");
    }

    /** The real Grok-1 tokenizer, loaded once per test JVM. */
    static SentencePieceTokenizer grok1() {
        return TokenizerHolder.TOKENIZER;
    }

    private static final class TokenizerHolder {
        static final SentencePieceTokenizer TOKENIZER;

        static {
            try {
                TOKENIZER = SentencePieceTokenizer.load(tokenizerModel());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** All fixture cases, parsed once per test JVM. */
    static List<Case> cases() {
        return CasesHolder.CASES;
    }

    private static final class CasesHolder {
        static final List<Case> CASES = readCases("grok-1.jsonl");
    }

    /** @param name a file in {@code fixtures/tokenizer/}, e.g. {@code "cl100k-v1.jsonl"} */
    static List<Case> readCases(String name) {
        Path file = sharedDir().resolve("fixtures/tokenizer/" + name);
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            Map<String, Object> object = Json.parseObject(lines.get(i));
            List<?> ids = (List<?>) object.get("ids");
            int[] idArray = new int[ids.size()];
            for (int k = 0; k < idArray.length; k++) {
                idArray[k] = ((Long) ids.get(k)).intValue();
            }
            cases.add(new Case(i + 1, (String) object.get("tag"), (String) object.get("text"), idArray));
        }
        return List.copyOf(cases);
    }

    /** A small JSON parser: objects, arrays, strings (all escapes), integers, true/false/null. */
    static final class Json {
        private final String s;
        private int pos;

        private Json(String s) {
            this.s = s;
        }

        @SuppressWarnings("unchecked")
        static Map<String, Object> parseObject(String text) {
            Json json = new Json(text);
            Object value = json.value();
            json.skipSpace();
            if (json.pos != text.length() || !(value instanceof Map)) {
                throw new IllegalArgumentException("not a single JSON object: " + text);
            }
            return (Map<String, Object>) value;
        }

        private Object value() {
            skipSpace();
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object();
                case '[' -> array();
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", null);
                default -> number();
            };
        }

        private Map<String, Object> object() {
            Map<String, Object> map = new LinkedHashMap<>();
            pos++;
            skipSpace();
            if (s.charAt(pos) == '}') {
                pos++;
                return map;
            }
            while (true) {
                skipSpace();
                String key = string();
                skipSpace();
                expect(':');
                map.put(key, value());
                skipSpace();
                if (s.charAt(pos) == '}') {
                    pos++;
                    return map;
                }
                expect(',');
            }
        }

        private List<Object> array() {
            List<Object> list = new ArrayList<>();
            pos++;
            skipSpace();
            if (s.charAt(pos) == ']') {
                pos++;
                return list;
            }
            while (true) {
                list.add(value());
                skipSpace();
                if (s.charAt(pos) == ']') {
                    pos++;
                    return list;
                }
                expect(',');
            }
        }

        private String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = s.charAt(pos++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> {
                        // Surrogate pairs arrive as two \\u escapes; appending both chars rebuilds them.
                        sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                        pos += 4;
                    }
                    default -> throw new IllegalArgumentException("bad escape \\" + e + " at " + pos);
                }
            }
        }

        private Long number() {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
                pos++;
            }
            if (start == pos) {
                throw new IllegalArgumentException("unexpected character at " + pos + ": " + s.charAt(pos));
            }
            return Long.parseLong(s.substring(start, pos));
        }

        private Object literal(String word, Object value) {
            if (!s.startsWith(word, pos)) {
                throw new IllegalArgumentException("bad literal at " + pos);
            }
            pos += word.length();
            return value;
        }

        private void expect(char c) {
            if (s.charAt(pos) != c) {
                throw new IllegalArgumentException("expected '" + c + "' at " + pos + ", found '" + s.charAt(pos)
                        + "'");
            }
            pos++;
        }

        private void skipSpace() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
        }
    }
}
