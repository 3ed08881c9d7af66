using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>
/// Where and in which dtype a module's parameters are created (not a memory plan's placement: the placer moves
/// them afterwards, <c>Execution/ComponentPlacer</c>). Building on the meta device allocates nothing (shape
/// checks of the 4B encoder), and building in bf16 on the GPU avoids a float32 copy in host memory. The default
/// (both null) is TorchSharp's default: float32 on the CPU.
/// </summary>
public sealed record BuildTarget(Device? Device = null, ScalarType? DType = null)
{
    public static BuildTarget Default { get; } = new();

    /// <summary>Parameters on the meta device: names and shapes only, no storage.</summary>
    public static BuildTarget Meta { get; } = new(new Device(DeviceType.META));

    /// <summary>Moves a module that has no device/dtype constructor arguments (e.g. <see cref="RmsNorm"/>).</summary>
    internal T Apply<T>(T module) where T : nn.Module
    {
        if (DType is { } dtype) module.to(dtype);
        if (Device is { } device) module.to(device);
        return module;
    }
}
