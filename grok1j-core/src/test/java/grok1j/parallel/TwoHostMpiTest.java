package grok1j.parallel;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One rank on each of two "hosts" (network namespaces joined by a veth pair, own host names; spec distributed.md
 * §4.3), every collective over TCP between them. Skipped, with the reason printed, without Open MPI or where this
 * machine does not allow namespaces (not root, in a restricted container).
 */
class TwoHostMpiTest {
    @Test
    void collectivesAcrossTwoNamespaces() throws Exception {
        Optional<String> reason = MpiRun.unavailableReason();
        if (reason.isEmpty()) {
            reason = TwoHostNetwork.unavailableReason();
        }
        if (reason.isPresent()) {
            System.out.println("TwoHostMpiTest skipped: " + reason.get());
        }
        Assumptions.assumeTrue(reason.isEmpty(), reason.orElse(""));

        MpiRun.Result r = TwoHostNetwork.run(List.of(),
                MpiRun.javaCommand(MpiCollectivesMain.class, "collectives"), Duration.ofSeconds(180));
        System.out.println("TwoHostMpiTest: " + r.elapsed().toMillis() + " ms");
        assertTrue(Pattern.compile("MPI-COLLECTIVES-OK size=2 hosts=\\[g1j-a-\\d+, g1j-b-\\d+]")
                .matcher(r.output()).find(), r::toString);
        assertEquals(0, r.status(), r::toString);

        // nothing of this run is left: namespaces and their /etc/netns files are named g1j-a-<pid><3 digits>
        String ours = "g1j-a-" + ProcessHandle.current().pid();
        MpiRun.Result list = MpiRun.run(List.of("ip", "netns", "list"), Duration.ofSeconds(30));
        assertTrue(!list.output().contains(ours), list::toString);
        try (var left = java.nio.file.Files.list(java.nio.file.Path.of("/etc/netns"))) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith(ours)), "/etc/netns/" + ours + "*");
        } catch (java.nio.file.NoSuchFileException e) {
            // no /etc/netns at all: nothing left either
        }
    }
}
