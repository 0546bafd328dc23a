package grok1j.parallel;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The side channel with ranks as threads (the real-process cases, SIGKILL and reported errors, are in OpenMpiTest). */
class RankMonitorTest {

    private static List<RankMonitor> start(InProcessGroup group, LinkedBlockingQueue<String> failures) {
        List<CompletableFuture<RankMonitor>> started = new java.util.ArrayList<>();
        for (int r = 0; r < group.size(); r++) {
            Communicator c = group.rank(r);
            started.add(CompletableFuture.supplyAsync(() -> RankMonitor.start(c, failures::add),
                    java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()));
        }
        return started.stream().map(CompletableFuture::join).toList();
    }

    @Test
    void aRankThatDropsItsConnectionIsNamed() throws Exception {
        LinkedBlockingQueue<String> failures = new LinkedBlockingQueue<>();
        List<RankMonitor> monitors = start(new InProcessGroup(3), failures);
        monitors.get(2).abandon(); // as if the process had been killed
        assertEquals("rank 2 on host " + HostNames.local() + " stopped unexpectedly (killed or crashed)",
                failures.poll(30, TimeUnit.SECONDS));
        monitors.get(1).abandon();
        assertNull(failures.poll(500, TimeUnit.MILLISECONDS), "only the first failure is reported");
        monitors.get(0).close();
    }

    @Test
    void aCleanExitIsNotAFailure() throws Exception {
        LinkedBlockingQueue<String> failures = new LinkedBlockingQueue<>();
        List<RankMonitor> monitors = start(new InProcessGroup(2), failures);
        monitors.get(1).close();
        Thread.sleep(300);
        monitors.get(0).close();
        assertNull(failures.poll(300, TimeUnit.MILLISECONDS));
    }

    @Test
    void oneRankNeedsNoChannel() {
        RankMonitor m = RankMonitor.start(Communicator.single(), line -> {
            throw new AssertionError(line);
        });
        m.close();
    }
}
