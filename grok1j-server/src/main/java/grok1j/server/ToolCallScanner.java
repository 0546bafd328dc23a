package grok1j.server;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Splits one choice's reply, as it streams, into text and tool calls (README "Tools"): a reply that starts with
 * {@link Tools#MARKER} (after at most one space) is a JSON array of {@code {"name", "arguments"}} objects, read
 * character by character so that each call's arguments go out as fragments while they are generated. Under a forced
 * tool choice the marker is in the prompt and the reply is the array. The text is trusted to be what the constraint
 * allows (a prefix of a valid array, keys in schema order); other text is returned as content. Not thread-safe.
 */
final class ToolCallScanner {
    /** What a piece of the reply becomes. */
    sealed interface Part permits Content, CallStart, Arguments {
    }

    /** Text of a reply that is not a tool call. */
    record Content(String text) implements Part {
    }

    /** Call {@code index} begins: its id and function name. */
    record CallStart(int index, String id, String name) implements Part {
    }

    /** More of call {@code index}'s arguments (JSON text). */
    record Arguments(int index, String fragment) implements Part {
    }

    /** One complete call. */
    record Call(String id, String name, String arguments) {
    }

    private static final int OPEN = 0;  // may still become the marker
    private static final int TEXT = 1;
    private static final int CALLS = 2;

    private int mode;
    private final StringBuilder held = new StringBuilder();
    // inside the array
    private int depth;           // 0 outside the array, 1 in it, 2 in a call object, more inside a value
    private boolean inString;
    private boolean escape;
    private final StringBuilder string = new StringBuilder(); // the key or name being read at depth 2
    private String key;          // the last key read at depth 2
    private boolean afterColon;  // at depth 2, between ':' and the value
    private boolean capturing;   // inside the arguments value
    private int captureDepth;    // depth where the arguments value started
    private boolean scalar;      // the arguments value is not an object or array
    private final List<Call> calls = new ArrayList<>();
    private StringBuilder arguments;

    /** @param forced the marker is in the prompt: the reply is the array */
    ToolCallScanner(boolean forced) {
        mode = forced ? CALLS : OPEN;
    }

    /** True once the reply is known to be tool calls. */
    boolean calling() {
        return mode == CALLS;
    }

    /** The calls read so far (the last may be incomplete). */
    List<Call> calls() {
        List<Call> out = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            Call c = calls.get(i);
            out.add(i == calls.size() - 1 && arguments != null ? new Call(c.id(), c.name(), arguments.toString()) : c);
        }
        return out;
    }

    /** Reads the next piece of the reply. */
    List<Part> feed(String text) {
        List<Part> out = new ArrayList<>();
        if (mode == TEXT) {
            if (!text.isEmpty()) {
                out.add(new Content(text));
            }
            return out;
        }
        if (mode == OPEN) {
            held.append(text);
            String h = held.toString();
            String s = h.startsWith(" ") ? h.substring(1) : h;
            if (s.startsWith(Tools.MARKER)) {
                mode = CALLS;
                text = s.substring(Tools.MARKER.length());
            } else if (Tools.MARKER.startsWith(s)) {
                return out; // still undecided
            } else {
                mode = TEXT;
                out.add(new Content(h));
                return out;
            }
        }
        StringBuilder frag = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (capturing && !scalar && !inString && depth == captureDepth && (c == '}' || c == ']')) {
                // the character that closes the arguments value
                frag.append(c);
                capturing = false;
                depth--;
                continue;
            }
            if (capturing && scalar && !inString && (c == ',' || c == '}' || Character.isWhitespace(c))) {
                capturing = false; // a scalar value ends at the first character that is not part of it
            }
            if (capturing) {
                frag.append(c);
            }
            step(c, out, frag);
        }
        flush(out, frag);
        return out;
    }

    /** The end of the reply: text held back in case it was the start of the marker is content after all. */
    List<Part> finish() {
        List<Part> out = new ArrayList<>();
        if (mode == OPEN) {
            mode = TEXT;
            if (!held.isEmpty()) {
                out.add(new Content(held.toString()));
            }
        }
        return out;
    }

    private void step(char c, List<Part> out, StringBuilder frag) {
        if (inString) {
            if (escape) {
                escape = false;
            } else if (c == '\\') {
                escape = true;
            } else if (c == '"') {
                inString = false;
                if (depth == 2 && !capturing) {
                    endString(out, frag);
                }
                return;
            }
            if (depth == 2 && !capturing) {
                string.append(c);
            }
            return;
        }
        if (Character.isWhitespace(c)) {
            return;
        }
        if (depth == 2 && afterColon && !capturing && "arguments".equals(key)) {
            afterColon = false;
            capturing = true;
            frag.append(c);
            scalar = c != '{' && c != '[';
            captureDepth = depth + 1;
        }
        switch (c) {
            case '"' -> {
                inString = true;
                string.setLength(0);
            }
            case '{', '[' -> {
                depth++;
                if (depth == 2) {
                    key = null;
                }
            }
            case '}', ']' -> depth--;
            case ':' -> {
                if (depth == 2) {
                    afterColon = true;
                }
            }
            default -> {
            }
        }
    }

    /** A string at depth 2 ended: a key, or the name's value. */
    private void endString(List<Part> out, StringBuilder frag) {
        if (afterColon) {
            afterColon = false;
            if ("name".equals(key)) {
                flush(out, frag);
                if (!calls.isEmpty()) {
                    Call last = calls.getLast();
                    calls.set(calls.size() - 1, new Call(last.id(), last.name(), arguments.toString()));
                }
                String id = "call_" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong())
                        + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
                calls.add(new Call(id, string.toString(), ""));
                arguments = new StringBuilder();
                out.add(new CallStart(calls.size() - 1, id, string.toString()));
            }
        } else {
            key = string.toString();
        }
    }

    private void flush(List<Part> out, StringBuilder frag) {
        if (!frag.isEmpty() && !calls.isEmpty()) {
            arguments.append(frag);
            out.add(new Arguments(calls.size() - 1, frag.toString()));
        }
        frag.setLength(0);
    }
}
