package grok1j.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The page to try the model in a browser: a few static files shipped in the jar (resources under
 * {@code grok1j/server/web/}), plain HTML, CSS and JavaScript that call the API like any other client. Served
 * without an API key (they hold no data); the page asks for the key when the API answers 401.
 */
final class WebPage {
    /** URL path to resource name and media type; nothing else is served. */
    private static final Map<String, String[]> FILES = Map.of(
            "/", new String[] {"index.html", "text/html; charset=utf-8"},
            "/index.html", new String[] {"index.html", "text/html; charset=utf-8"},
            "/app.js", new String[] {"app.js", "text/javascript; charset=utf-8"},
            "/app.css", new String[] {"app.css", "text/css; charset=utf-8"});

    private WebPage() {
    }

    /** True when {@code path} is one of the page's files. */
    static boolean serves(String path) {
        return FILES.containsKey(path);
    }

    /** Answers a GET (or HEAD) of one of the page's files. */
    static void send(Exchange ex, String path) throws IOException {
        String[] f = FILES.get(path);
        byte[] bytes;
        try (InputStream in = WebPage.class.getResourceAsStream("web/" + f[0])) {
            if (in == null) {
                throw new UncheckedIOException(new IOException("resource missing from the jar: web/" + f[0]));
            }
            bytes = in.readAllBytes();
        }
        ex.setHeader("Cache-Control", "no-cache");
        ex.setHeader("X-Content-Type-Options", "nosniff");
        ex.send(200, f[1], bytes);
    }
}
