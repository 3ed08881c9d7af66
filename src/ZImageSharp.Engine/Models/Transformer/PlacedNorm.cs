using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

/// <summary>
/// Creates <see cref="RmsNorm"/>s where the rest of the transformer lives. RmsNorm has no device/dtype arguments, so
/// its small gain is made as float32 on the CPU and moved leaf by leaf: TorchSharp 0.107's <c>Module.to</c> fails on a
/// tree that contains a <c>ModuleDict</c> (duplicate "Item" members), so the whole model cannot be moved afterwards.
/// </summary>
internal static class PlacedNorm
{
    public static RmsNorm Create(long dim, double eps, Device? device, ScalarType? dtype)
    {
        var norm = new RmsNorm(dim, eps);
        if (dtype is { } d) norm.to(d);
        if (device is not null) norm.to(device);
        return norm;
    }
}
