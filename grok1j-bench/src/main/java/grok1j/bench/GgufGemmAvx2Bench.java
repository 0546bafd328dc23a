package grok1j.bench;

import org.openjdk.jmh.annotations.Fork;

/** {@link GgufGemmBench} with 256-bit vectors at most: the AVX2 kernels and probe, on any x86 machine. */
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g", "-XX:MaxVectorSize=32"})
public class GgufGemmAvx2Bench extends GgufGemmBench {
}
