package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/** A port another process holds: one line naming the address and the system's reason, not Jetty's wrapper. */
class BindFailureTest {
    @Test
    void aTakenPortIsReportedInOneLine() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            IOException e = assertThrows(IOException.class,
                    () -> OpenAiServer.start(ServerConfig.defaults().withHost("127.0.0.1").withPort(port)).close());
            assertEquals("cannot listen on 127.0.0.1:" + port + ": address already in use (another process has that port)",
                    e.getMessage());
        }
    }
}
