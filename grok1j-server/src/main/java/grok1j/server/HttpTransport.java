package grok1j.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.Executors;
import java.util.function.IntFunction;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The HTTP server under the API: Jetty 12 speaking HTTP/1.1 and HTTP/2 cleartext (prior knowledge or
 * {@code Upgrade: h2c}), each request handled on its own virtual thread with blocking reads and writes.
 *
 * <p>What it bounds: connections ({@link ServerConfig#maxConnections()}; more wait in the accept queue), request
 * header size (16 KiB, else 431), silence on a connection ({@link ServerConfig#idleTimeout()}: an idle keep-alive
 * connection, or a client that stops sending headers or body, is closed), and by the same time the first request
 * head of a connection and any request body (see {@link Exchange#requestBody}). Parsing headers holds no thread.
 * Errors the library answers itself (malformed requests, headers too large) get the body {@code errorBody} makes.
 * A client hanging up mid-request is reported through {@link Exchange#onDisconnect} (with a {@link HangUpWatch} for
 * HTTP/1.1, where Jetty does not look).
 */
final class HttpTransport implements AutoCloseable {
    /** The API: handles one exchange on a virtual thread; may block. */
    interface Api {
        void handle(Exchange ex) throws IOException;
    }

    static final int MAX_HEADER_BYTES = 16 * 1024;

    /** Jetty tells every start and stop at INFO; keep its warnings only (a strong reference keeps the level set). */
    private static final java.util.logging.Logger JETTY_LOG = java.util.logging.Logger.getLogger("org.eclipse.jetty");

    static {
        JETTY_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    private final Server server;
    private final ServerConnector connector;
    private final HangUpWatch hangUps = new HangUpWatch();
    private int port;

    /**
     * Binds and starts.
     *
     * @param errorBody the JSON body for an error status the library answers itself
     * @throws IOException if the address cannot be bound
     */
    HttpTransport(ServerConfig config, Api api, IntFunction<byte[]> errorBody) throws IOException {
        QueuedThreadPool pool = new QueuedThreadPool(16, 2);
        pool.setName("grok1j-http");
        pool.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor()); // blocking handlers run on these
        server = new Server(pool);

        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setRequestHeaderSize(MAX_HEADER_BYTES);
        connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http), new H2c(http));
        connector.setHost(config.host());
        connector.setPort(config.port());
        connector.setIdleTimeout(config.idleTimeout().toMillis());
        connector.setAcceptQueueSize(128);
        server.addConnector(connector);
        connector.addEventListener(new HeadDeadline(config.idleTimeout()));
        server.addBean(new NetworkConnectionLimit(config.maxConnections(), connector));

        GracefulHandler graceful = new GracefulHandler();
        graceful.setHandler(new Handler.Abstract() { // Abstract is blocking: Jetty calls it on a virtual thread
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                Exchange ex = new Exchange(request, response, hangUps);
                try {
                    api.handle(ex);
                    if (ex.started()) {
                        ex.finish();
                        callback.succeeded();
                    } else { // nothing to answer (the client is gone): abort rather than send an empty 200
                        callback.failed(new IOException("no response"));
                    }
                } catch (Throwable t) {
                    callback.failed(t);
                }
                return true;
            }
        });
        server.setHandler(graceful);
        server.setErrorHandler((request, response, callback) -> {
            Object s = request.getAttribute(ErrorHandler.ERROR_STATUS);
            int status = s instanceof Integer i ? i : response.getStatus();
            response.setStatus(status);
            response.getHeaders().put("Content-Type", "application/json");
            response.write(true, ByteBuffer.wrap(errorBody.apply(status)), callback);
            return true;
        });
        server.setStopTimeout(2000);
        try {
            server.start();
            port = connector.getLocalPort();
        } catch (IOException e) {
            stopQuietly();
            throw e;
        } catch (Exception e) {
            stopQuietly();
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * HTTP/2 cleartext by prior knowledge, or by {@code Upgrade: h2c} on a request without a body. A request with a body
     * (Java's {@code HttpClient} sends one chunked with its upgrade) is answered over HTTP/1.1 instead, which RFC 7540
     * allows: Jetty would reset the upgraded stream.
     */
    private static final class H2c extends HTTP2CServerConnectionFactory {
        H2c(HttpConfiguration http) {
            super(http);
        }

        @Override
        public Connection upgradeConnection(Connector connector, EndPoint endPoint, MetaData.Request request,
                                            HttpFields.Mutable response) {
            HttpFields h = request.getHttpFields();
            boolean body = h.contains(HttpHeader.TRANSFER_ENCODING) || h.getLongField(HttpHeader.CONTENT_LENGTH) > 0;
            return body ? null : super.upgradeConnection(connector, endPoint, request, response);
        }
    }

    /**
     * A new connection must deliver its first request head within the idle timeout, else it is closed: a client
     * sending its headers a byte at a time is never silent long enough for the idle timeout alone.
     */
    private final class HeadDeadline implements Connection.Listener {
        private final java.time.Duration limit;

        HeadDeadline(java.time.Duration limit) {
            this.limit = limit;
        }

        @Override
        public void onOpened(Connection c) {
            connector.getScheduler().schedule(() -> {
                EndPoint ep = c.getEndPoint();
                // still this connection (not upgraded to HTTP/2 meanwhile) and no request head parsed yet
                if (c.getMessagesIn() == 0 && ep.getConnection() == c && ep.isOpen()) {
                    ep.close();
                }
            }, limit);
        }
    }

    /** The bound port (also after closing). */
    int port() {
        return port;
    }

    /** Stops taking connections, lets responses in progress finish for up to 2 s, then closes the rest. */
    @Override
    public void close() {
        stopQuietly();
    }

    private void stopQuietly() {
        try {
            server.stop();
        } catch (Exception ignored) {
            // stopping is best effort
        }
        hangUps.close();
    }
}
