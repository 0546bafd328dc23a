package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The split of a reply into text and tool calls, fed whole and in every two-piece split. */
class ToolCallScannerTest {
    /** Feeds {@code parts} and returns "content|name(args);name(args);" as seen through the parts. */
    static String scan(boolean forced, String... parts) {
        ToolCallScanner s = new ToolCallScanner(forced);
        List<ToolCallScanner.Part> out = new ArrayList<>();
        for (String p : parts) {
            out.addAll(s.feed(p));
        }
        out.addAll(s.finish());
        StringBuilder content = new StringBuilder();
        List<StringBuilder> calls = new ArrayList<>();
        for (ToolCallScanner.Part p : out) {
            switch (p) {
                case ToolCallScanner.Content c -> content.append(c.text());
                case ToolCallScanner.CallStart c -> {
                    assertEquals(calls.size(), c.index());
                    assertTrue(c.id().startsWith("call_"));
                    calls.add(new StringBuilder(c.name()).append('('));
                }
                case ToolCallScanner.Arguments a -> calls.get(a.index()).append(a.fragment());
            }
        }
        StringBuilder b = new StringBuilder(content).append('|');
        for (StringBuilder c : calls) {
            b.append(c).append(");");
        }
        // the non-streaming view agrees
        StringBuilder whole = new StringBuilder();
        for (ToolCallScanner.Call c : s.calls()) {
            whole.append(c.name()).append('(').append(c.arguments()).append(");");
        }
        assertEquals(b.substring(b.indexOf("|") + 1), whole.toString());
        return b.toString();
    }

    static void assertEverySplit(boolean forced, String text, String expected) {
        assertEquals(expected, scan(forced, text));
        for (int i = 1; i < text.length(); i++) {
            assertEquals(expected, scan(forced, text.substring(0, i), text.substring(i)), "split at " + i);
        }
    }

    @Test
    void callsWithNestedAndTrickyArguments() {
        assertEverySplit(false, " <tool_calls>[{\"name\":\"f\",\"arguments\":{\"a\":\"}]\\\"{\",\"b\":[1,{\"c\":{}}]}}, "
                        + "{\"name\": \"g\", \"arguments\": {}}]",
                "|f({\"a\":\"}]\\\"{\",\"b\":[1,{\"c\":{}}]});g({});");
        assertEverySplit(true, "[{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}]", "|get_time({\"zone\":\"CET\"});");
        // cut short by max_tokens: the call so far
        assertEverySplit(true, "[{\"name\":\"f\",\"arguments\":{\"a\":tr", "|f({\"a\":tr);");
        assertEverySplit(true, "[{\"name\":\"f\",\"arguments\": 12}]", "|f(12);");
    }

    @Test
    void textIsContentAndAnUnfinishedMarkerIsText() {
        assertEverySplit(false, " Hello <tool_calls>", " Hello <tool_calls>|");
        assertEverySplit(false, " <tool_ca", " <tool_ca|");
        assertEverySplit(false, "", "|");
        ToolCallScanner s = new ToolCallScanner(false);
        assertTrue(s.feed(" <tool").isEmpty()); // held back: it may be the marker
        assertFalse(s.calling());
        s.feed("_calls>[");
        assertTrue(s.calling());
    }
}
