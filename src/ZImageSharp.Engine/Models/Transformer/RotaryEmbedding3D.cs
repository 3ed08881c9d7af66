using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (RopeEmbedder, apply_rotary_emb)

/// <summary>
/// 3-axis rotary position embedding with interleaved pairs: head dims [0, d0) rotate with the caption-index/frame
/// axis, the next d1 with the row, the last d2 with the column. Frequencies are complex64 (cos + i·sin) and the
/// rotation runs in float32 whatever the model dtype, as both references do.
/// </summary>
public sealed class RotaryEmbedding3D : IDisposable
{
    private readonly double _theta;
    private readonly IReadOnlyList<int> _axesDims;
    private readonly IReadOnlyList<int> _axesLens;
    // Per-axis tables [axes_lens[a], axes_dims[a]/2] complex64, built once per device.
    private Tensor[]? _tables;

    public RotaryEmbedding3D(double theta, IReadOnlyList<int> axesDims, IReadOnlyList<int> axesLens)
    {
        _theta = theta;
        _axesDims = axesDims;
        _axesLens = axesLens;
    }

    /// <summary>Rotation pairs per token: head_dim / 2.</summary>
    public long PairCount => _axesDims.Sum() / 2;

    /// <summary>
    /// Frequencies of a caption of <paramref name="length"/> tokens: position ids (1 + j, 0, 0).
    /// </summary>
    /// <returns>[length, head_dim/2] complex64.</returns>
    public Tensor CaptionFrequencies(long length, Device device)
    {
        CheckBound(0, length, "caption position");
        var tables = Tables(device);
        return cat([
            tables[0].narrow(0, 1, length),
            tables[1].narrow(0, 0, 1).expand(length, -1),
            tables[2].narrow(0, 0, 1).expand(length, -1)], 1);
    }

    /// <summary>
    /// Frequencies of an image token grid in row-major (f, h, w) order: ids (firstFrameId + f, h, w), followed by
    /// <paramref name="padCount"/> pad tokens with ids (0, 0, 0).
    /// </summary>
    /// <returns>[frames·rows·columns + padCount, head_dim/2] complex64.</returns>
    public Tensor ImageFrequencies(long firstFrameId, long frames, long rows, long columns, long padCount, Device device)
    {
        CheckBound(0, firstFrameId + frames - 1, "frame position");
        CheckBound(1, rows - 1, "row");
        CheckBound(2, columns - 1, "column");
        using var scope = NewDisposeScope();
        var tables = Tables(device);
        var grid = cat([
            tables[0].narrow(0, firstFrameId, frames).view(frames, 1, 1, -1).expand(frames, rows, columns, -1),
            tables[1].narrow(0, 0, rows).view(1, rows, 1, -1).expand(frames, rows, columns, -1),
            tables[2].narrow(0, 0, columns).view(1, 1, columns, -1).expand(frames, rows, columns, -1)], 3)
            .view(frames * rows * columns, -1);
        if (padCount > 0)
        {
            var origin = cat([tables[0].narrow(0, 0, 1), tables[1].narrow(0, 0, 1), tables[2].narrow(0, 0, 1)], 1);
            grid = cat([grid, origin.expand(padCount, -1)], 0);
        }
        return grid.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotates adjacent pairs (x[2m], x[2m+1]) of the last dim by the per-token frequencies, in float32, and casts
    /// back. Rows whose frequency is complex zero (batch padding) come out as zero.
    /// </summary>
    /// <param name="x">[B, S, H, head_dim], any float dtype.</param>
    /// <param name="frequencies">[B, S, head_dim/2] complex64.</param>
    public static Tensor Apply(Tensor x, Tensor frequencies)
    {
        using var scope = NewDisposeScope();
        var shape = x.shape;
        var pairs = x.to(ScalarType.Float32).reshape(shape[0], shape[1], shape[2], -1, 2); // [B,S,H,Dh/2,2]
        var rotated = view_as_complex(pairs) * frequencies.unsqueeze(2);                     // [B,S,H,Dh/2]
        return view_as_real(rotated).flatten(3).to(x.dtype).MoveToOuterDisposeScope();      // [B,S,H,Dh]
    }

    /// <summary>
    /// <see cref="Apply"/> into <paramref name="x"/> itself (same float32 rotation and single rounding), for a tensor
    /// the caller owns: the rotation happens in place on the float32 copy and is written back, so no output tensor is
    /// allocated.
    /// </summary>
    /// <param name="x">[B, S, H, head_dim], contiguous, any float dtype; overwritten.</param>
    /// <param name="frequencies">[B, S, head_dim/2] complex64.</param>
    public static Tensor ApplyInPlace(Tensor x, Tensor frequencies)
    {
        using var scope = NewDisposeScope();
        var shape = x.shape;
        var xf = x.to(ScalarType.Float32);                                   // x itself when already float32
        var pairs = view_as_complex(xf.view(shape[0], shape[1], shape[2], -1, 2));           // [B,S,H,Dh/2]
        pairs.mul_(frequencies.unsqueeze(2));
        if (xf.Handle != x.Handle) x.copy_(xf);
        return x;
    }

    private void CheckBound(int axis, long largestId, string what)
    {
        if (largestId >= _axesLens[axis])
            throw new ArgumentException(
                $"The {what} id {largestId} is beyond the transformer's RoPE table for axis {axis} " +
                $"(axes_lens[{axis}] = {_axesLens[axis]}); use a shorter caption or a smaller image.");
    }

    private Tensor[] Tables(Device device)
    {
        if (_tables is not null && _tables[0].device_type == device.type && _tables[0].device_index == device.index)
            return _tables;
        DisposeTables();
        var tables = new Tensor[_axesDims.Count];
        for (int a = 0; a < tables.Length; a++)
        {
            using var scope = NewDisposeScope();
            // ω_j = 1/θ^(2j/d) and angles pos·ω in float64, cast to float32 before cos/sin (torch.polar on float32).
            var exponents = Scalars.Arange(0, _axesDims[a], 2, ScalarType.Float64, CPU).div_(Scalars.Of(_axesDims[a]));
            var omega = pow(tensor(_theta), exponents).reciprocal();
            var positions = Scalars.Arange(_axesLens[a], ScalarType.Float64, CPU);
            var angles = outer(positions, omega).to(ScalarType.Float32);
            tables[a] = polar(ones_like(angles), angles).to(device).DetachFromDisposeScope();
        }
        _tables = tables;
        return tables;
    }

    private void DisposeTables()
    {
        if (_tables is null) return;
        foreach (var t in _tables) t.Dispose();
        _tables = null;
    }

    public void Dispose() => DisposeTables();
}
