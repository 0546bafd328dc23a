package grok1j.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;

/**
 * One HTTP request and its response as the API code sees them: a thin layer over the server library (Jetty), so that
 * request and response logic never touch the library. Used by one thread at a time, except {@link #onDisconnect}.
 */
final class Exchange {
    private final Request request;
    private final Response response;
    private final HangUpWatch hangUps;
    private OutputStream body;
    private int status = -1;

    Exchange(Request request, Response response, HangUpWatch hangUps) {
        this.request = request;
        this.response = response;
        this.hangUps = hangUps;
    }

    String method() {
        return request.getMethod();
    }

    /** The path without the query string, e.g. {@code /v1/completions}. */
    String path() {
        String p = request.getHttpURI().getPath();
        return p == null ? "/" : p;
    }

    /** A request header's first value, or null. */
    String header(String name) {
        return request.getHeaders().get(name);
    }

    /** The declared body length, or -1 when unknown (chunked) or absent. */
    long contentLength() {
        return request.getLength();
    }

    InputStream requestBody() {
        return Content.Source.asInputStream(request);
    }

    void setHeader(String name, String value) {
        response.getHeaders().put(name, value);
    }

    /** The status sent, or -1 while nothing is. */
    int status() {
        return status;
    }

    boolean started() {
        return status != -1;
    }

    /**
     * Sends the status line and headers (at once: a client sees them before any body byte is ready).
     *
     * @param length the body length in bytes, or -1 when unknown (chunked)
     */
    OutputStream start(int status, long length) throws IOException {
        if (started()) {
            throw new IllegalStateException("the response was started already");
        }
        this.status = status;
        response.setStatus(status);
        if (length >= 0) {
            response.getHeaders().put("Content-Length", length);
        }
        body = Content.Sink.asOutputStream(response);
        body.flush(); // commits the headers
        return body;
    }

    /** The body of a started response. */
    OutputStream body() {
        if (body == null) {
            throw new IllegalStateException("the response has not started");
        }
        return body;
    }

    /** A complete response. */
    void send(int status, String contentType, byte[] bytes) throws IOException {
        setHeader("Content-Type", contentType);
        try (OutputStream out = start(status, bytes.length)) {
            out.write(bytes);
        }
    }

    void send(int status, String contentType, String text) throws IOException {
        send(status, contentType, text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Runs {@code action} (on some other thread; it must not block) if the client goes away before the watch is
     * closed: a closed or reset connection, a reset HTTP/2 stream, an idle timeout. Call it once the request body has
     * been read.
     */
    HangUpWatch.Watch onDisconnect(Runnable action) {
        request.addFailureListener(t -> action.run());
        HttpVersion version = request.getConnectionMetaData().getHttpVersion();
        if ((version == HttpVersion.HTTP_1_1 || version == HttpVersion.HTTP_1_0)
                && request.getConnectionMetaData().getConnection().getEndPoint() instanceof SocketChannelEndPoint ep) {
            return hangUps.watch(ep.getChannel(), action);
        }
        return () -> {
        };
    }

    /** Ends the response body (the handler returned). */
    void finish() throws IOException {
        if (body != null) {
            body.close();
        }
    }
}
