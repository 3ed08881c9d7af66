using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/autoencoders/autoencoder_kl.py (tiled_decode, blend_v, blend_h) for the
// idea; the tile placement and the normalised feathering below are our own.

/// <summary>Tile size and overlap of a tiled decode, in latent cells.</summary>
/// <param name="TileLatentSize">Side of a square latent tile (64 = 512 px for the released VAE).</param>
/// <param name="OverlapLatent">Minimum overlap between neighbouring tiles; the blend ramps across it. At most half
/// the tile, so no pixel is covered by more than two tiles per axis.</param>
public sealed record VaeTileOptions(int TileLatentSize = 64, int OverlapLatent = 8)
{
    public void Validate()
    {
        if (TileLatentSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(TileLatentSize), TileLatentSize, "The tile size must be positive.");
        if (OverlapLatent < 0 || 2 * OverlapLatent > TileLatentSize)
            throw new ArgumentOutOfRangeException(nameof(OverlapLatent), OverlapLatent,
                $"The overlap must be between 0 and half the tile size ({TileLatentSize / 2}).");
    }
}

/// <summary>
/// Decoding that bounds activation memory: one image of the batch at a time, and optionally in overlapping latent
/// tiles whose decoded pixels are blended with linear ramps across each overlap.
/// </summary>
/// <remarks>
/// Tiling is an approximation: each tile's GroupNorms see only that tile's statistics and the mid-block attention
/// sees only that tile's positions, so a tile's interior differs slightly from the full decode. Tiles are full-size
/// (the last tile on each axis is moved back to end at the border, overlapping its neighbour by more) so every tile
/// has the same statistics footprint, and each output pixel is the weight-normalised sum of the tiles that cover it,
/// with weights that ramp from 0 to 1 across every interior overlap and stay 1 at the image border.
/// </remarks>
public static class VaeTiling
{
    /// <summary>Decodes each image of the batch separately (peak activation memory of batch 1).</summary>
    /// <param name="vae">The autoencoder.</param>
    /// <param name="z">VAE latents [B, latent, h, w] (already unscaled).</param>
    /// <returns>[B, out, f·h, f·w] raw decoder output.</returns>
    public static Tensor DecodeOneByOne(AutoencoderKL vae, Tensor z) => DecodeEach(z, x => vae.Decode(x));

    /// <summary>Decodes each image of the batch in overlapping tiles. A tile at least as large as the latent gives
    /// exactly <see cref="AutoencoderKL.Decode"/>.</summary>
    /// <inheritdoc cref="DecodeOneByOne"/>
    public static Tensor DecodeTiled(AutoencoderKL vae, Tensor z, VaeTileOptions options)
    {
        options.Validate();
        return DecodeEach(z, image => DecodeImageTiled(vae, image, options));
    }

    private static Tensor DecodeEach(Tensor z, Func<Tensor, Tensor> decode)
    {
        if (z.dim() != 4)
            throw new ArgumentException($"VAE latents must be [batch, channels, height, width]; got [{string.Join(", ", z.shape)}].", nameof(z));
        if (z.shape[0] == 1) return decode(z);
        using var scope = NewDisposeScope();
        var images = new List<Tensor>();
        for (long i = 0; i < z.shape[0]; i++)
            images.Add(decode(z.narrow(0, i, 1)));
        return cat(images, 0).MoveToOuterDisposeScope();
    }

    private static Tensor DecodeImageTiled(AutoencoderKL vae, Tensor z, VaeTileOptions options)
    {
        var rows = TileStarts(z.shape[2], options);
        var cols = TileStarts(z.shape[3], options);
        if (rows.Count == 1 && cols.Count == 1) return vae.Decode(z);

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        int f = vae.Config.SpatialScaleFactor;
        long tileH = Math.Min(options.TileLatentSize, z.shape[2]), tileW = Math.Min(options.TileLatentSize, z.shape[3]);
        // The blend accumulates in float32 whatever the decode dtype, so bf16 tiles are not rounded twice.
        var sum = zeros([1, vae.Config.OutChannels, z.shape[2] * f, z.shape[3] * f], ScalarType.Float32, z.device);
        var weightSum = zeros([1, 1, z.shape[2] * f, z.shape[3] * f], ScalarType.Float32, z.device);
        for (int r = 0; r < rows.Count; r++)
        {
            using var rowRamp = Ramp(rows, r, tileH, f, z.device);                                     // [tileH·f]
            for (int c = 0; c < cols.Count; c++)
            {
                using var tileScope = NewDisposeScope();
                var tile = vae.Decode(z.narrow(2, rows[r], tileH).narrow(3, cols[c], tileW)).to(ScalarType.Float32);
                var colRamp = Ramp(cols, c, tileW, f, z.device);                                        // [tileW·f]
                var weight = (rowRamp.unsqueeze(1) * colRamp.unsqueeze(0)).view(1, 1, tileH * f, tileW * f);
                sum.narrow(2, rows[r] * f, tileH * f).narrow(3, cols[c] * f, tileW * f).add_(tile.mul_(weight), Scalars.One);
                weightSum.narrow(2, rows[r] * f, tileH * f).narrow(3, cols[c] * f, tileW * f).add_(weight, Scalars.One);
            }
        }
        return (sum / weightSum).to(z.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Tile starts along one axis: stride tile − overlap, the last tile aligned to the end.</summary>
    internal static IReadOnlyList<long> TileStarts(long length, VaeTileOptions options)
    {
        long tile = options.TileLatentSize;
        if (length <= tile) return [0];
        long stride = tile - options.OverlapLatent;
        var starts = new List<long>();
        for (long s = 0; s + tile < length; s += stride) starts.Add(s);
        starts.Add(length - tile);
        return starts;
    }

    /// <summary>
    /// Per-pixel blend weight of tile <paramref name="index"/> along one axis: rising across the overlap with the
    /// previous tile, falling across the overlap with the next, 1 elsewhere. Ramp values are (k + ½)/n, never 0, so
    /// every pixel has a positive total weight.
    /// </summary>
    private static Tensor Ramp(IReadOnlyList<long> starts, int index, long tile, int scale, Device device)
    {
        long length = tile * scale;
        var weight = ones(length, ScalarType.Float32, device);
        if (index > 0)
        {
            long overlap = (starts[index - 1] + tile - starts[index]) * scale;
            if (overlap > 0) weight.narrow(0, 0, overlap).mul_(RampUp(overlap, device));
        }
        if (index < starts.Count - 1)
        {
            long overlap = (starts[index] + tile - starts[index + 1]) * scale;
            if (overlap > 0) weight.narrow(0, length - overlap, overlap).mul_(RampUp(overlap, device).flip(0));
        }
        return weight;
    }

    private static Tensor RampUp(long n, Device device)
    {
        using var count = n.ToScalar();
        return Scalars.Arange(n, ScalarType.Float32, device).add_(Scalars.Of(0.5), alpha: Scalars.One).div_(count);
    }
}
