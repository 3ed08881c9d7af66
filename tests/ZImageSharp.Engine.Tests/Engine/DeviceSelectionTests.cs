using ZImageSharp.Engine.Native;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>A machine without CUDA (this one, and CI) gets one clear sentence and a hint, never a crash.</summary>
public class DeviceSelectionTests
{
    [SkippableFact]
    public void AskingForCudaWithoutACudaLibTorchSaysWhereItLookedAndWhatToDo()
    {
        Skip.If(LibTorchLocator.Find(null, out _) is { HasCuda: true }, "this machine has a CUDA libtorch installed");
        var error = Assert.Throws<DeviceUnavailableException>(() => TorchRuntime.Initialize("cuda"));
        Assert.StartsWith("CUDA was requested, but ", error.Message);
        Assert.Contains("looked in", error.Message);
        Assert.Contains("Hint: install PyTorch with CUDA", error.Hint);
        Assert.Equal(ErrorCode.DeviceUnavailable, error.Code);
    }

    [Fact]
    public void AnExplicitLibTorchPathThatHoldsNoLibTorchIsNotReplacedByAnotherInstall()
    {
        var empty = Directory.CreateTempSubdirectory("zimage-no-libtorch-");
        try
        {
            var error = Assert.Throws<DeviceUnavailableException>(() => TorchRuntime.Initialize("cuda:0", empty.FullName));
            Assert.Contains(empty.FullName, error.Message);
        }
        finally { empty.Delete(); }
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    public void UnknownDeviceNamesAreRejectedWithTheAllowedForms(string device)
    {
        var error = Assert.Throws<ArgumentException>(() => TorchRuntime.ParseDevice(device));
        Assert.Contains("auto, cpu, cuda or cuda:N", error.Message);
    }
}
