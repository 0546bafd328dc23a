package grok1j.parallel;


/** One rank alone: sums, broadcasts and gathers are copies at most. */
final class SingleProcess implements Communicator {
    static final SingleProcess INSTANCE = new SingleProcess();

    private SingleProcess() {
    }

    @Override public int rank() { return 0; }
    @Override public int size() { return 1; }

    @Override
    public String hostName() {
        return HostNames.local();
    }

    @Override public void allReduceSum(float[] data, int offset, int count) { }
    @Override public void broadcast(int[] data, int offset, int count, int root) { }
    @Override public void broadcast(byte[] data, int offset, int count, int root) { }

    @Override
    public void gather(float[] send, int sendOffset, int count, float[] recv, int recvOffset, int root) {
        System.arraycopy(send, sendOffset, recv, recvOffset, count);
    }

    @Override
    public void gather(byte[] send, int sendOffset, int count, byte[] recv, int recvOffset, int root) {
        System.arraycopy(send, sendOffset, recv, recvOffset, count);
    }

    @Override public void barrier() { }
    @Override public void close() { }
}
