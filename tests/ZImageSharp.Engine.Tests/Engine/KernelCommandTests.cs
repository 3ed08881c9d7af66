namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>What the CLI says about the own NVRTC kernels on a machine without a GPU (docs/kernels.md).</summary>
[Collection(CliCollection.Name)]
public sealed class KernelCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("zimage-kernels-cli-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void BenchKernelsOnTheCpuSaysNvrtcNeedsCudaAndSucceeds()
    {
        var json = Path.Combine(_dir.FullName, "kernels.json");
        var (code, stdout, stderr) = CliRunner.Run("bench", "--kernels", "--device", "cpu", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("The own kernels are built by NVRTC and need a CUDA device", stdout);
        Assert.False(File.Exists(json)); // nothing was measured
    }

    [Fact]
    public void KernelsIsAModeOfItsOwn()
    {
        var (code, _, stderr) = CliRunner.Run("bench", "--kernels", "--soak", "2", "--device", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--calibrate, --soak, --provoke-oom and --kernels are separate modes", stderr);
    }

    [Fact]
    public void DoctorHasTheOwnKernelsRow()
    {
        var (_, stdout, stderr) = CliRunner.Run("doctor", "--device", "cpu");
        Assert.Matches(@"own kernels \(NVRTC\)\s*│\s*needs CUDA \(this process runs on the CPU\); the torch ops run instead", stdout + stderr);
    }
}
