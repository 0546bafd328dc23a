package grok1j.server;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.thread.Scheduler;

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

    /**
     * The request body. Over HTTP/1.1, reading it all may take {@code limit} at most: then the connection is closed
     * and the read fails, so a client dribbling its body byte by byte (never silent long enough for the idle timeout)
     * cannot hold the request forever. Over HTTP/2 the connection carries other streams and is left alone.
     */
    InputStream requestBody(Duration limit) {
        InputStream in = Content.Source.asInputStream(request);
        if (!http1()) {
            return in;
        }
        EndPoint endPoint = request.getConnectionMetaData().getConnection().getEndPoint();
        Scheduler.Task abort = request.getComponents().getScheduler().schedule(endPoint::close, limit);
        return new FilterInputStream(in) {
            @Override
            public void close() throws IOException {
                abort.cancel();
                super.close();
            }
        };
    }

    private boolean http1() {
        HttpVersion version = request.getConnectionMetaData().getHttpVersion();
        return version == HttpVersion.HTTP_1_1 || version == HttpVersion.HTTP_1_0;
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
        if (http1() && request.getConnectionMetaData().getConnection().getEndPoint() instanceof SocketChannelEndPoint ep) {
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
