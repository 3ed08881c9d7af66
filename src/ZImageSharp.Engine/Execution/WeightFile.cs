using TorchSharp;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// One component's weight file (or sharded set) kept open for the engine's lifetime, so that residencies can read
/// their tensors again whenever a plan needs them on the device or as host masters. Reads go through one reused
/// staging buffer per dtype, released after each placement so it does not stay in the host budget.
/// </summary>
internal sealed class WeightFile(IWeightSource source) : IDisposable
{
    private StagingBuffers _staging = new();

    public string Origin => source.Origin;

    /// <summary>Reads tensor <paramref name="name"/> into <paramref name="destination"/> (any dtype and device).</summary>
    public void ReadInto(string name, torch.Tensor destination)
    {
        using var noGrad = torch.no_grad();
        WeightReads.CopyInto(source, name, destination, _staging);
    }

    /// <summary>Frees the staging buffers (the next read allocates them again).</summary>
    public void ReleaseStaging()
    {
        _staging.Dispose();
        _staging = new StagingBuffers();
    }

    public void Dispose()
    {
        _staging.Dispose();
        source.Dispose();
    }
}
