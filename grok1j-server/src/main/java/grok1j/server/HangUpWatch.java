package grok1j.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Notices HTTP/1.1 clients that hang up while their request is being handled. Jetty (like most servers) reads nothing
 * from an HTTP/1.1 connection until the response is complete, so it cannot see the close; this watch registers the
 * connection's socket with a selector of its own and reports it readable: the client sent nothing more after its
 * request (clients of this API do not pipeline), so readable means the end of the stream or a reset. Nothing is read.
 * HTTP/2 needs no watch: Jetty sees resets and closes there.
 */
final class HangUpWatch implements AutoCloseable {
    /** One watched socket; {@link #close()} stops watching. */
    interface Watch extends AutoCloseable {
        @Override
        void close();
    }

    private final Selector selector;
    private final Queue<Runnable> changes = new ConcurrentLinkedQueue<>();
    private final Thread thread;
    private volatile boolean closed;

    HangUpWatch() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        thread = Thread.ofPlatform().daemon().name("grok1j-hang-up-watch").start(this::loop);
    }

    /**
     * Runs {@code onHangUp} once, on a virtual thread, when the client closes or resets the connection before the
     * returned watch is closed.
     */
    Watch watch(SocketChannel channel, Runnable onHangUp) {
        SelectionKey[] key = new SelectionKey[1];
        change(() -> {
            try {
                try {
                    key[0] = channel.register(selector, SelectionKey.OP_READ, onHangUp);
                } catch (CancelledKeyException e) {
                    // the previous request's watch on this keep-alive connection was cancelled in this same batch of
                    // changes, and a cancelled key stays registered until the next select: flush it and register again
                    // (taking this for a hang-up cancelled healthy requests when requests came back to back)
                    selector.selectNow();
                    key[0] = channel.register(selector, SelectionKey.OP_READ, onHangUp);
                }
            } catch (IOException | CancelledKeyException e) { // a ClosedChannelException among them
                Thread.startVirtualThread(onHangUp); // closed already
            } catch (IllegalArgumentException | IllegalStateException e) {
                // not registrable (e.g. blocking mode): no watch, the next write finds out
            }
        });
        return () -> change(() -> {
            if (key[0] != null) {
                key[0].cancel();
            }
        });
    }

    private void change(Runnable r) {
        changes.add(r);
        selector.wakeup();
    }

    private void loop() {
        while (!closed) {
            try {
                // the timeout lets closed channels be deregistered here too, so their sockets are released promptly
                selector.select(1000);
                Runnable r;
                while ((r = changes.poll()) != null) {
                    r.run();
                }
                for (SelectionKey k : selector.selectedKeys()) {
                    k.cancel(); // once
                    Thread.startVirtualThread((Runnable) k.attachment());
                }
                selector.selectedKeys().clear();
            } catch (IOException | RuntimeException e) {
                if (closed) {
                    return;
                }
                System.getLogger(HangUpWatch.class.getName()).log(System.Logger.Level.WARNING, "hang-up watch", e);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        try {
            thread.join(2000);
            selector.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException ignored) {
            // closing is best effort
        }
    }
}
