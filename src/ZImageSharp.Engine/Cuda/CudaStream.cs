namespace ZImageSharp.Engine.Cuda;

/// <summary>A non-blocking side stream (weight prefetch). Torch's own work runs on the legacy default stream, so
/// ordering between the two is done with <see cref="CudaEvent"/>s.</summary>
public sealed class CudaStream : IDisposable
{
    public IntPtr Handle { get; private set; }

    public CudaStream()
    {
        CudaRuntime.Check(CudaRuntime.cudaStreamCreateWithFlags(out var handle, CudaRuntime.StreamNonBlocking), "cudaStreamCreateWithFlags");
        Handle = handle;
    }

    /// <summary>The legacy default stream, where torch enqueues its kernels.</summary>
    public static IntPtr Default => IntPtr.Zero;

    public void Synchronize() => CudaRuntime.Check(CudaRuntime.cudaStreamSynchronize(Handle), "cudaStreamSynchronize");

    /// <summary>Makes this stream wait until <paramref name="evt"/> has completed.</summary>
    public void Wait(CudaEvent evt) => CudaRuntime.Check(CudaRuntime.cudaStreamWaitEvent(Handle, evt.Handle, 0), "cudaStreamWaitEvent");

    /// <summary>Makes torch's default stream wait until <paramref name="evt"/> has completed.</summary>
    public static void DefaultWait(CudaEvent evt) => CudaRuntime.Check(CudaRuntime.cudaStreamWaitEvent(Default, evt.Handle, 0), "cudaStreamWaitEvent(default)");

    internal void CopyAsync(IntPtr destination, IntPtr source, long bytes, CudaRuntime.MemcpyKind kind) =>
        CudaRuntime.Check(CudaRuntime.cudaMemcpyAsync(destination, source, (nuint)bytes, kind, Handle), "cudaMemcpyAsync");

    public void Dispose()
    {
        if (Handle == IntPtr.Zero) return;
        CudaRuntime.cudaStreamDestroy(Handle);
        Handle = IntPtr.Zero;
    }
}

public sealed class CudaEvent : IDisposable
{
    public IntPtr Handle { get; private set; }

    public CudaEvent(bool timing = false)
    {
        CudaRuntime.Check(CudaRuntime.cudaEventCreateWithFlags(out var handle, timing ? 0u : CudaRuntime.EventDisableTiming), "cudaEventCreateWithFlags");
        Handle = handle;
    }

    public void Record(IntPtr stream) => CudaRuntime.Check(CudaRuntime.cudaEventRecord(Handle, stream), "cudaEventRecord");
    public void RecordOnDefault() => Record(CudaStream.Default);
    public void Synchronize() => CudaRuntime.Check(CudaRuntime.cudaEventSynchronize(Handle), "cudaEventSynchronize");

    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        CudaRuntime.Check(CudaRuntime.cudaEventElapsedTime(out var ms, start.Handle, end.Handle), "cudaEventElapsedTime");
        return ms;
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero) return;
        CudaRuntime.cudaEventDestroy(Handle);
        Handle = IntPtr.Zero;
    }
}
