using TorchSharp;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// Copies host masters into device tensors that torch already allocated, off torch's compute stream where the device
/// has one. A copy returns a ticket; <see cref="MakeComputeWait"/> orders torch's later work after it.
/// </summary>
internal abstract class WeightCopier : IDisposable
{
    public static WeightCopier For(ResidencyTarget target) =>
        target.IsCuda ? new CudaWeightCopier() : new SynchronousWeightCopier();

    /// <summary>Starts copying each source into the destination of the same index (same shape, dtype and bytes).</summary>
    public abstract CopyTicket Start(IReadOnlyList<Tensor> sources, IReadOnlyList<Tensor> destinations);

    /// <summary>Makes the compute stream wait for the copy and consumes the ticket. Does not block the host.</summary>
    public abstract void MakeComputeWait(CopyTicket ticket);

    /// <summary>Blocks the host until every copy started so far has finished (before freeing what they write).</summary>
    public abstract void Synchronize();

    public virtual void Dispose() { }

    protected static void CheckPair(Tensor source, Tensor destination)
    {
        if (source.dtype != destination.dtype || !source.shape.SequenceEqual(destination.shape))
            throw new InvalidOperationException(
                $"A weight copy needs equal dtypes and shapes: source {source.dtype} [{string.Join(", ", source.shape)}], " +
                $"destination {destination.dtype} [{string.Join(", ", destination.shape)}].");
    }
}

/// <summary>A started copy; on CUDA it carries the event recorded after the copy on the side stream.</summary>
internal sealed class CopyTicket(CudaEvent? done) : IDisposable
{
    public CudaEvent? Done { get; private set; } = done;

    public void Dispose()
    {
        Done?.Dispose();
        Done = null;
    }
}

/// <summary>The CPU "device" (tests, CPU placement): a plain copy, finished when <see cref="Start"/> returns.</summary>
internal sealed class SynchronousWeightCopier : WeightCopier
{
    public override CopyTicket Start(IReadOnlyList<Tensor> sources, IReadOnlyList<Tensor> destinations)
    {
        using var noGrad = no_grad();
        for (int i = 0; i < sources.Count; i++)
        {
            CheckPair(sources[i], destinations[i]);
            destinations[i].copy_(sources[i]);
        }
        return new CopyTicket(null);
    }

    public override void MakeComputeWait(CopyTicket ticket) => ticket.Dispose();

    public override void Synchronize() { }
}

/// <summary>
/// Host → device copies with cudaMemcpyAsync on a non-blocking side stream, so they overlap torch's kernels on the
/// legacy default stream. Torch allocated the destinations on the default stream, possibly in memory that queued
/// default-stream kernels still read (a block released a moment ago), so the side stream first waits for everything
/// the default stream has queued; the default stream later waits for the copy's event before reading the weights.
/// </summary>
internal sealed class CudaWeightCopier : WeightCopier
{
    private readonly CudaStream _stream = new();

    public override CopyTicket Start(IReadOnlyList<Tensor> sources, IReadOnlyList<Tensor> destinations)
    {
        using (var allocated = new CudaEvent())
        {
            allocated.RecordOnDefault();
            _stream.Wait(allocated);
        } // Destroying a recorded event is safe: the wait above captured it, CUDA frees it once it completes.

        for (int i = 0; i < sources.Count; i++)
        {
            var (source, destination) = (sources[i], destinations[i]);
            CheckPair(source, destination);
            long bytes = source.numel() * source.ElementSize;
            if (bytes == 0) continue;
            var kind = source.device_type == DeviceType.CUDA ? CudaRuntime.MemcpyKind.DeviceToDevice : CudaRuntime.MemcpyKind.HostToDevice;
            _stream.CopyAsync(TorchNative.DataPointer(destination), TorchNative.DataPointer(source), bytes, kind);
        }
        var done = new CudaEvent();
        done.Record(_stream.Handle);
        return new CopyTicket(done);
    }

    public override void MakeComputeWait(CopyTicket ticket)
    {
        if (ticket.Done is { } done) CudaStream.DefaultWait(done);
        ticket.Dispose();
    }

    public override void Synchronize() => _stream.Synchronize();

    public override void Dispose()
    {
        _stream.Synchronize();
        _stream.Dispose();
    }
}
