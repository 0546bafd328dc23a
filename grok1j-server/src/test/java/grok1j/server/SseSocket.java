package grok1j.server;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A bare-socket streaming client that can hang up mid-stream, as a browser tab being closed would. */
final class SseSocket implements AutoCloseable {
    private final Socket socket;
    private final BufferedReader in;

    SseSocket(OpenAiServer server, String path, String json) throws IOException {
        socket = new Socket("127.0.0.1", server.port());
        socket.setSoTimeout(120_000);
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
        in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
    }

    /** The status line, e.g. {@code HTTP/1.1 200 OK}. */
    String statusLine() throws IOException {
        return in.readLine();
    }

    /** Reads until the next {@code data: } line and returns its payload (null at the end of the stream). */
    String nextData() throws IOException {
        String line;
        while ((line = in.readLine()) != null) {
            if (line.startsWith("data: ")) {
                return line.substring(6);
            }
        }
        return null;
    }

    /** Hangs up without reading the rest. */
    @Override
    public void close() throws IOException {
        socket.close();
    }
}
