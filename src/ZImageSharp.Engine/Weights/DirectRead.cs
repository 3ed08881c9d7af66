using TorchSharp;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// A source that can read a tensor's stored bytes into memory the caller already has. Fresh host memory costs a page
/// fault per 4 KiB on first touch — on the development VM that alone capped reads at 0.15-0.2 GB/s against 2-2.7 GB/s
/// into memory touched before — so loaders read through a reused staging buffer (or straight into the parameter).
/// </summary>
public interface IDirectReadSource
{
    /// <summary>False when tensor <paramref name="name"/> must be converted on the way (e.g. dequantized): use <see cref="IWeightSource.Read"/>.</summary>
    bool CanReadInto(string name);

    /// <summary>
    /// Reads tensor <paramref name="name"/> as stored into <paramref name="destination"/>: a contiguous CPU tensor of the
    /// stored dtype and element count (its shape may differ).
    /// </summary>
    void ReadInto(string name, torch.Tensor destination);
}

/// <summary>A source that can read a row range of a tensor without reading all of it (used to split fused weights).</summary>
internal interface IRowSliceSource
{
    torch.Tensor ReadRows(string name, long firstRow, long rowCount);

    void ReadRowsInto(string name, long firstRow, long rowCount, torch.Tensor destination);
}

/// <summary>
/// Reusable host buffers, one flat tensor per dtype grown to the largest tensor seen, so each byte of staging memory
/// is faulted in once per load instead of once per tensor.
/// </summary>
internal sealed class StagingBuffers : IDisposable
{
    private readonly Dictionary<torch.ScalarType, torch.Tensor> _buffers = [];

    /// <summary>A view of <paramref name="shape"/> over the buffer of <paramref name="dtype"/>; dispose the view, not the buffer.</summary>
    public torch.Tensor Get(torch.ScalarType dtype, long[] shape)
    {
        long elements = shape.Aggregate(1L, (n, d) => n * d);
        if (!_buffers.TryGetValue(dtype, out var buffer) || buffer.numel() < elements)
        {
            buffer?.Dispose();
            buffer = torch.empty(Math.Max(elements, 1), dtype);
            _buffers[dtype] = buffer;
        }
        using var used = buffer.narrow(0, 0, elements);
        return used.view(shape);
    }

    /// <summary>Grows the buffer of <paramref name="dtype"/> to <paramref name="elements"/> and touches every page now.</summary>
    public void Reserve(torch.ScalarType dtype, long elements)
    {
        using var view = Get(dtype, [elements]);
        view.zero_();
    }

    public void Dispose()
    {
        foreach (var buffer in _buffers.Values) buffer.Dispose();
        _buffers.Clear();
    }
}

/// <summary>Reads tensors the cheapest way a source allows: into given memory when it can, else as new tensors.</summary>
internal static class WeightReads
{
    /// <summary>
    /// Copies tensor <paramref name="name"/> into <paramref name="target"/> (any dtype, any device), converting on the way.
    /// </summary>
    public static void CopyInto(IWeightSource source, string name, torch.Tensor target, StagingBuffers staging)
    {
        var entry = source.Describe(name);
        if (source is IDirectReadSource direct && direct.CanReadInto(name))
        {
            var stored = SafetensorsDType.ToScalarType(entry.DType);
            if (target.device_type == DeviceType.CPU && target.dtype == stored && target.is_contiguous() && target.numel() == entry.ElementCount)
            {
                direct.ReadInto(name, target);
                return;
            }
            using var buffer = staging.Get(stored, entry.Shape);
            direct.ReadInto(name, buffer);
            target.copy_(buffer);
            return;
        }
        using var read = source.Read(name);
        target.copy_(read);
    }
}
