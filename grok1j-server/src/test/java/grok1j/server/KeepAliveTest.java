package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A prefill held for 7 s (the test hook) while clients give up after 5 s of silence: keep-alive comments and leading
 * spaces carry both a stream and a non-streaming request through.
 */
@Timeout(120)
class KeepAliveTest {
    static OpenAiServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withKeepAlive(Duration.ofSeconds(2)));
        server.holdEvents = Duration.ofSeconds(7);
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    /** A client whose reads time out after 5 s of silence. */
    static Socket post(String json) throws IOException {
        Socket s = new Socket("127.0.0.1", server.port());
        s.setSoTimeout(5000);
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().write(body);
        s.getOutputStream().flush();
        return s;
    }

    static String head(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        while (!b.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c == -1) {
                throw new IOException("closed in the head: " + b);
            }
            b.append((char) c);
        }
        return b.toString();
    }

    static String line(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        int c;
        while ((c = in.read()) != '\n') {
            if (c == -1) {
                throw new IOException("closed");
            }
            if (c != '\r') {
                b.append((char) c);
            }
        }
        return b.toString();
    }

    /** The whole body: chunked, or up to the end of the connection. */
    static byte[] body(String head, InputStream in) throws IOException {
        return head.toLowerCase(java.util.Locale.ROOT).contains("transfer-encoding: chunked") ? chunked(in) : in.readAllBytes();
    }

    static byte[] chunked(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            int size = Integer.parseInt(line(in).trim(), 16);
            if (size == 0) {
                return out.toByteArray();
            }
            out.write(in.readNBytes(size));
            line(in);
        }
    }

    static String streamed() throws IOException {
        try (Socket s = post("{\"prompt\": \"Hello\", \"max_tokens\": 3, \"temperature\": 0, \"stream\": true}")) {
            InputStream in = s.getInputStream();
            String head = head(in); // at once, before any token
            assertTrue(head.startsWith("HTTP/1.1 200 OK") && head.contains("text/event-stream"), head);
            return new String(body(head, in), StandardCharsets.UTF_8);
        }
    }

    static String whole() throws IOException {
        try (Socket s = post("{\"prompt\": \"Hello\", \"max_tokens\": 3, \"temperature\": 0}")) {
            InputStream in = s.getInputStream();
            String head = head(in);
            assertTrue(head.startsWith("HTTP/1.1 200 OK") && head.contains("application/json"), head);
            return new String(body(head, in), StandardCharsets.UTF_8);
        }
    }

    @Test
    void aLongPrefillOutlastsAFiveSecondReadTimeout() throws Exception {
        CompletableFuture<String> stream = CompletableFuture.supplyAsync(() -> call(KeepAliveTest::streamed));
        CompletableFuture<String> json = CompletableFuture.supplyAsync(() -> call(KeepAliveTest::whole));

        String events = stream.get(60, TimeUnit.SECONDS);
        assertTrue(events.startsWith(": keep-alive\n\n: keep-alive\n\n"), events); // 7 s of silence, one every 2 s
        String data = events.replace(": keep-alive\n\n", "");
        assertEquals(3 + 1, TestModel.chunks(data).size(), data); // three tokens and the finish, then [DONE]

        String body = json.get(60, TimeUnit.SECONDS);
        assertTrue(body.startsWith("   "), "leading spaces kept it alive: [" + body + "]");
        JsonNode j = TestModel.JSON.readTree(body); // leading whitespace is valid JSON
        assertEquals(3, j.get("usage").get("completion_tokens").asInt());
    }

    interface IoCall {
        String run() throws IOException;
    }

    static String call(IoCall c) {
        try {
            return c.run();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
