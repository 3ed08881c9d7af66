using TorchSharp;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Native;

public class TorchNativeTests
{
    /// <summary>The attention-kernel switches are libtorch C++ methods called by their exported names: a wrong name
    /// or signature would fail here (the flags exist in the CPU build too).</summary>
    [Fact]
    public void AttentionKernelSwitchesRoundTripThroughLibtorch()
    {
        var before = TorchNative.GetSdpBackends();
        try
        {
            Assert.Equal(SdpBackends.MemoryEfficient | SdpBackends.Math, TorchNative.SetSdpBackends(SdpBackends.MemoryEfficient | SdpBackends.Math));
            Assert.Equal(SdpBackends.Flash | SdpBackends.CuDnn, TorchNative.SetSdpBackends(SdpBackends.Flash | SdpBackends.CuDnn));
        }
        finally { TorchNative.SetSdpBackends(before); }
        Assert.Equal(before, TorchNative.GetSdpBackends());
    }

    [Fact]
    public void AttentionKernelScopeLeavesTheCpuAlone()
    {
        var before = TorchNative.GetSdpBackends();
        using (AttentionKernels.Use(CPU, SdpBackends.Math))
            Assert.Equal(before, TorchNative.GetSdpBackends());
    }

    [Fact]
    public void CopyBytesReadsTheRequestedRange()
    {
        using var t = arange(0, 200, dtype: ScalarType.Int64).to(ScalarType.Byte);
        Assert.Equal(Enumerable.Range(10, 5).Select(i => (byte)i), TorchNative.CopyBytes(t, 10, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => TorchNative.CopyBytes(t, 198, 5));
        using var floats = zeros(4);
        Assert.Throws<ArgumentException>(() => TorchNative.CopyBytes(floats, 0, 4));
    }
}
