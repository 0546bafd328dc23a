package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The transport over raw sockets: h2c upgrades, hang-ups, idle and slow clients, oversized bodies, bad JSON. */
@Timeout(120)
class HttpProtocolTest {
    static final String SHORT = "{\"prompt\": \"Hello\", \"max_tokens\": 3, \"temperature\": 0}";
    static final String ENDLESS = "{\"prompt\": \"Tell me everything\", \"max_tokens\": 4000, \"ignore_eos\": true}";
    static OpenAiServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestModel.start(ServerConfig.defaults().withParallel(1).withQueue(4).withMaxBodyBytes(64 * 1024)
                .withIdleTimeout(Duration.ofSeconds(3)));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static Socket connect() throws IOException {
        Socket s = new Socket("127.0.0.1", server.port());
        s.setSoTimeout(60_000);
        return s;
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** A line of an HTTP/1.1 head, without its CRLF. */
    static String line(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            if (c != '\r') {
                b.append((char) c);
            }
        }
        return c == -1 && b.isEmpty() ? null : b.toString();
    }

    static final String UPGRADE = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            + "HTTP2-Settings: AAEAAEAAAAIAAAAAAAMAAABkAAQBAAAAAAUAAEAA\r\n";

    @Test
    void h2cUpgradeWithAChunkedBodyIsAnsweredOverHttp11() throws Exception {
        byte[] body = SHORT.getBytes(StandardCharsets.UTF_8);
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            out.write(ascii("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + UPGRADE
                    + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Integer.toHexString(body.length) + "\r\n"));
            out.write(body);
            out.write(ascii("\r\n0\r\n\r\n"));
            out.flush();
            InputStream in = s.getInputStream();
            assertEquals("HTTP/1.1 200 OK", line(in));
            long length = -1;
            String l;
            while (!(l = line(in)).isEmpty()) {
                if (l.regionMatches(true, 0, "Content-Length:", 0, 15)) {
                    length = Long.parseLong(l.substring(15).trim());
                }
            }
            assertTrue(length > 0, "a JSON answer has its length");
            JsonNode j = TestModel.JSON.readTree(in.readNBytes((int) length));
            assertEquals("text_completion", j.get("object").asText(), j.toString());
            assertEquals(3, j.get("usage").get("completion_tokens").asInt());
            // the connection stays usable for HTTP/1.1
            out.write(ascii("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
            out.flush();
            assertEquals("HTTP/1.1 200 OK", line(in));
        }
    }

    @Test
    void h2cUpgradeWithoutABodySpeaksHttp2() throws Exception {
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            out.write(ascii("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n" + UPGRADE + "\r\n"));
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            assertEquals("HTTP/1.1 101 Switching Protocols", line(in));
            while (!line(in).isEmpty()) {
                // the rest of the 101 head
            }
            // the client's connection preface and empty SETTINGS; the answer to the upgraded request is stream 1
            out.write(ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
            out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});
            out.flush();
            boolean headers = false;
            ByteArrayOutputStream data = new ByteArrayOutputStream();
            while (true) {
                int length = (in.readUnsignedByte() << 16) | in.readUnsignedShort();
                int type = in.readUnsignedByte();
                int flags = in.readUnsignedByte();
                int stream = in.readInt() & 0x7fffffff;
                byte[] payload = in.readNBytes(length);
                assertFalse(type == 7, "GOAWAY: " + new String(payload, StandardCharsets.ISO_8859_1));
                assertFalse(type == 3 && stream == 1, "stream 1 was reset");
                if (type == 4 && (flags & 1) == 0) {
                    out.write(new byte[] {0, 0, 0, 4, 1, 0, 0, 0, 0}); // SETTINGS ACK
                    out.flush();
                }
                if (stream != 1) {
                    continue;
                }
                if (type == 1) { // HEADERS: HPACK static index 8 is ":status: 200"
                    headers = true;
                    int at = (flags & 0x20) != 0 ? 5 : 0; // PRIORITY flag: 5 bytes before the block
                    while ((payload[at] & 0xe0) == 0x20) { // skip dynamic table size updates (001xxxxx, varint)
                        boolean more = (payload[at++] & 0x1f) == 0x1f;
                        while (more) {
                            more = (payload[at++] & 0x80) != 0;
                        }
                    }
                    assertEquals(0x88, payload[at] & 0xff, "the first header is :status 200");
                } else if (type == 0) {
                    data.write(payload);
                }
                if ((flags & 1) != 0 && type <= 1) { // END_STREAM
                    break;
                }
            }
            assertTrue(headers);
            JsonNode j = TestModel.JSON.readTree(data.toByteArray());
            assertEquals("grok-1-tiny", j.get("data").get(0).get("id").asText(), j.toString());
        }
    }

    @Test
    void javaHttpClientUpgradingWithAChunkedBody() throws Exception {
        // HTTP/2 is its default: over plain http it asks for an h2c upgrade, here with a body of unknown length
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            HttpRequest r = HttpRequest.newBuilder(URI.create(server.baseUrl() + "/completions")).timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(SHORT.getBytes(StandardCharsets.UTF_8))))
                    .build();
            for (int i = 0; i < 2; i++) { // the first upgrades the connection, the second runs on HTTP/2
                HttpResponse<String> resp = client.send(r, HttpResponse.BodyHandlers.ofString());
                assertEquals(200, resp.statusCode(), resp.body());
                assertEquals(3, TestModel.JSON.readTree(resp.body()).get("usage").get("completion_tokens").asInt());
            }
        }
    }

    @Test
    void aClientHangingUpOnANonStreamingRequestFreesItsSlot() throws Exception {
        // keep-alive spaces and the idle timeout far away: only noticing the hang-up itself can cancel in time
        OpenAiServer quiet = TestModel.start(ServerConfig.defaults().withParallel(1).withKeepAlive(Duration.ofSeconds(60))
                .withIdleTimeout(Duration.ofSeconds(120)));
        try {
            byte[] body = ENDLESS.getBytes(StandardCharsets.UTF_8);
            try (Socket s = new Socket("127.0.0.1", quiet.port())) {
                s.getOutputStream().write(ascii("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n"));
                s.getOutputStream().write(body);
                s.getOutputStream().flush();
                assertEquals(1, TestModel.awaitMetric(quiet, "grok1j_num_requests_running", 1, Duration.ofSeconds(30)));
                Thread.sleep(1000);
            } // hangs up: 4000 tokens would take minutes
            assertEquals(0, TestModel.awaitMetric(quiet, "grok1j_num_requests_running", 0, Duration.ofSeconds(10)));
            String m = TestModel.get(quiet, "/metrics").body();
            assertEquals(1, TestModel.metric(m, "grok1j_sequences_finished_total{reason=\"cancelled\"}"));
            assertEquals(0, TestModel.metric(m, "grok1j_kv_cache_used_positions"));
            assertEquals(200, TestModel.post(quiet, "/v1/completions", SHORT).status(), "the slot serves the next request");
        } finally {
            quiet.close();
        }
    }

    @Test
    void idleAndSlowClientsDoNotStopANormalRequest() throws Exception {
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < 64; i++) {
                held.add(connect()); // connected, silent
            }
            List<Socket> dribbling = new ArrayList<>();
            for (int i = 0; i < 8; i++) { // a head, then a body that never comes, or comes a byte every 0.5 s
                Socket s = connect();
                s.getOutputStream().write(ascii("POST /tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 1000\r\n\r\n{\"prompt\": \"sl"));
                s.getOutputStream().flush();
                held.add(s);
                if (i % 2 == 0) {
                    dribbling.add(s);
                }
            }
            for (int i = 0; i < 4; i++) { // headers a byte at a time
                Socket s = connect();
                s.getOutputStream().write(ascii("GET /health HTTP/1.1\r\nX-Slow: "));
                held.add(s);
                dribbling.add(s);
            }
            Thread dribbler = Thread.startVirtualThread(() -> {
                try {
                    for (int k = 0; k < 60; k++) { // 30 s at most: never silent for the 3 s idle timeout
                        Thread.sleep(500);
                        for (Socket s : dribbling) {
                            try {
                                s.getOutputStream().write('o');
                                s.getOutputStream().flush();
                            } catch (IOException e) {
                                // closed by the server: that is the point
                            }
                        }
                    }
                } catch (InterruptedException e) {
                    // the test is over
                }
            });
            TestModel.Response r = TestModel.post(server, "/v1/completions", SHORT);
            assertEquals(200, r.status(), r.body());
            // the idle timeout (3 s here) closes them all: silent ones with nothing, stalled bodies with a 408 or
            // nothing; dribbling heads and bodies too, as neither may take longer than the idle timeout
            for (Socket s : held) {
                s.setSoTimeout(30_000);
                InputStream in = s.getInputStream();
                int first = in.read();
                if (first != -1) {
                    String status = (char) first + line(in);
                    assertTrue(status.startsWith("HTTP/1.1 408") || status.startsWith("HTTP/1.1 400"), status);
                }
            }
            dribbler.interrupt();
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }

    @Test
    void oversizedBodiesGet413OnEveryRoute() throws Exception {
        byte[] big = new byte[8 << 20];
        java.util.Arrays.fill(big, (byte) ' ');
        for (String path : List.of("/tokenize", "/v1/completions", "/v1/responses", "/health", "/nothing")) {
            HttpRequest r = HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(big)).build();
            HttpResponse<String> resp = TestModel.HTTP.send(r, HttpResponse.BodyHandlers.ofString());
            assertEquals(413, resp.statusCode(), path + ": " + resp.body());
            assertEquals("request_too_large", TestModel.JSON.readTree(resp.body()).get("error").get("code").asText());
        }
        // a chunked body (no Content-Length) is cut at the limit as it is read
        HttpRequest r = HttpRequest.newBuilder(URI.create(server.baseUrl() + "/tokenize")).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big))).build();
        HttpResponse<String> resp = TestModel.HTTP.send(r, HttpResponse.BodyHandlers.ofString());
        assertEquals(413, resp.statusCode(), resp.body());
    }

    @Test
    void badJsonIsExplainedInOurWords() {
        for (String body : List.of("{\"prompt\": NaN}", "{'prompt': 'x'}", "{\"prompt\": \"x\"", "[1, 2]", "")) {
            TestModel.Response r = TestModel.post(server, "/v1/completions", body);
            assertEquals(400, r.status(), body);
            String message = r.json().get("error").get("message").asText();
            assertTrue(message.startsWith("the body "), message);
            assertFalse(message.contains("Feature") || message.contains("jackson") || message.contains("Jackson")
                    || message.contains("token"), message);
        }
    }

    @Test
    void malformedRequestsGetJsonErrors() throws Exception {
        try (Socket s = connect()) {
            s.getOutputStream().write(ascii("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + "x".repeat(20_000) + "\r\n\r\n"));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            assertEquals("HTTP/1.1 431 Request Header Fields Too Large", line(in));
            String l;
            boolean json = false;
            while (!(l = line(in)).isEmpty()) {
                json |= l.equalsIgnoreCase("Content-Type: application/json");
            }
            assertTrue(json);
        }
    }
}
