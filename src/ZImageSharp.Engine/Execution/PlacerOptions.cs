using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>Where <see cref="ComponentPlacer"/> puts components and in which dtype they compute.</summary>
/// <param name="Device">The compute device (CUDA in production; the CPU in tests and CPU-only runs).</param>
public sealed record PlacerOptions(Device Device)
{
    /// <summary>The dtype of every component on the device (a VAE placement with Float32 computes in float32).</summary>
    public ScalarType ComputeDType { get; init; } = ScalarType.BFloat16;

    /// <summary>The text encoder's dtype when the plan runs it on the CPU. When equal to the masters' dtype the
    /// encoder runs straight from them, with no second copy in host memory.</summary>
    public ScalarType CpuTextEncoderDType { get; init; } = ScalarType.BFloat16;

    /// <summary>Tests only: a CPU <see cref="Device"/> behaves like a separate device (real copies, no aliasing).</summary>
    internal bool SimulateDevice { get; init; }

    internal ResidencyTarget DeviceTarget(bool float32 = false) =>
        new(Device, float32 ? ScalarType.Float32 : ComputeDType) { SimulateDevice = SimulateDevice && Device.type == DeviceType.CPU };

    internal ResidencyTarget HostTarget => new(CPU, CpuTextEncoderDType);
}
