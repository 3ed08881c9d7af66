using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>Where a module computes and in which dtype: its parameters are tensors of <see cref="ComputeDType"/> on
/// <see cref="Device"/> while loaded, whatever dtype the host masters are stored in.</summary>
public sealed record ResidencyTarget(Device Device, ScalarType ComputeDType)
{
    public bool IsCuda => Device.type == DeviceType.CUDA;

    /// <summary>True when the compute device is the host itself, so host masters can serve as device tensors.</summary>
    public bool IsHost => Device.type == DeviceType.CPU && !SimulateDevice;

    /// <summary>Tests only: treat the CPU as if it were a separate device, so every load and prefetch makes real copies
    /// (the code paths of a GPU run, minus the asynchronous copy engine).</summary>
    internal bool SimulateDevice { get; init; }

    /// <summary>Same device type and index, dtype and simulation (TorchSharp devices compare by reference).</summary>
    public bool SameAs(ResidencyTarget other) =>
        Device.type == other.Device.type && Device.index == other.Device.index && ComputeDType == other.ComputeDType
        && SimulateDevice == other.SimulateDevice;

    public override string ToString() => $"{Device.type}{(Device.index >= 0 ? ":" + Device.index : "")} {ComputeDType}";
}
