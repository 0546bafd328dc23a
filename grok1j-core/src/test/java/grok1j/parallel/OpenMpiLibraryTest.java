package grok1j.parallel;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The one-line errors of a missing MPI library and of a library that is not Open MPI (no MPI needed). */
class OpenMpiLibraryTest {

    @Test
    void aMissingLibrarySaysWhatToInstall() {
        CommunicatorException e = assertThrows(CommunicatorException.class,
                () -> OpenMpi.Native.load("libmpi-that-does-not-exist.so.40"));
        assertEquals("cannot load libmpi-that-does-not-exist.so.40: install Open MPI 4 on every host"
                + " (Debian/Ubuntu: apt-get install openmpi-bin)", e.getMessage());
    }

    @Test
    void aLibraryThatIsNotOpenMpiIsRefused() {
        CommunicatorException e = assertThrows(CommunicatorException.class, () -> OpenMpi.Native.load("libc.so.6"));
        assertEquals("only Open MPI 4 is supported, and libc.so.6 is not Open MPI (install openmpi-bin)",
                e.getMessage());
    }
}
