using TorchSharp;
using ZImageSharp.Engine.Cuda.Kernels;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Cuda;

public class FusedSwiGluTests
{
    private static (Tensor A, Tensor B) Inputs(ScalarType dtype, long[] shape)
    {
        var generator = new Generator(1234);
        return (randn(shape, dtype: ScalarType.Float32, generator: generator).to(dtype),
                randn(shape, dtype: ScalarType.Float32, generator: generator).to(dtype));
    }

    /// <summary>The reference is silu(a)·b, rounded like torch's two ops: silu to bf16 first, then the product. The
    /// expected values are computed here in float64 from the definition x / (1 + e^-x).</summary>
    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float32)]
    public void ReferenceIsSiluTimesB(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var (a, b) = Inputs(dtype, [3, 37]); // 111 elements: not a multiple of the kernel's vector width
        var x = a.to(ScalarType.Float64);
        var silu = (x / (x.neg().exp() + 1)).to(dtype).to(ScalarType.Float64);
        var expected = (silu * b.to(ScalarType.Float64)).to(dtype);

        var actual = FusedSwiGlu.Run(a, b);
        Assert.Equal(a.shape, actual.shape);
        Assert.Equal(dtype, actual.dtype);
        // bf16: at most one unit in the last place (torch's float exp vs the float64 one here can round silu apart).
        double tolerance = dtype == ScalarType.BFloat16 ? 1.0 / 64 : 1e-6;
        var error = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs() / (expected.to(ScalarType.Float64).abs() + 1e-3);
        Assert.True(error.max().item<double>() <= tolerance, $"largest relative error {error.max().item<double>()}");
        Assert.True(actual.equal(nn.functional.silu(a).mul(b)).all().item<bool>());
    }

    [Fact]
    public void InPlaceMatchesTheNewTensor()
    {
        using var scope = NewDisposeScope();
        var (a, b) = Inputs(ScalarType.BFloat16, [2, 4, 129]);
        var expected = FusedSwiGlu.Run(a, b);
        var target = a.clone();
        FusedSwiGlu.RunInPlace(target, b);
        Assert.True(target.equal(expected).all().item<bool>());
        Assert.False(a.equal(expected).all().item<bool>()); // Run left its input alone
    }

    [Fact]
    public void CpuTensorsTakeTheReferencePath()
    {
        using var scope = NewDisposeScope();
        var (a, b) = Inputs(ScalarType.BFloat16, [4, 16]);
        Assert.Equal(SwiGluPath.Reference, FusedSwiGlu.Choose(a, b, KernelChoice.Auto, out var reason));
        Assert.Equal("not on CUDA", reason);
        Assert.Equal(SwiGluPath.Reference, FusedSwiGlu.Choose(a, b, KernelChoice.Torch, out _));
    }

    [Fact]
    public void KernelChoiceParsesTheEnvironmentValue()
    {
        Assert.Equal(KernelChoice.Auto, OwnKernels.ParseChoice(null));
        Assert.Equal(KernelChoice.Auto, OwnKernels.ParseChoice(" Auto "));
        Assert.Equal(KernelChoice.Torch, OwnKernels.ParseChoice("torch"));
        var e = Assert.Throws<ArgumentException>(() => OwnKernels.ParseChoice("triton"));
        Assert.Contains("ZIMAGE_KERNELS must be auto or torch (got 'triton')", e.Message);
    }

    /// <summary>The row doctor prints on a machine without a GPU.</summary>
    [Fact]
    public void DoctorRowOnTheCpuSaysItNeedsCuda()
    {
        var status = OwnKernels.Status(CPU);
        Assert.False(status.Available);
        Assert.StartsWith("needs CUDA", status.Description);
        Assert.Contains("torch ops run instead", status.Description);
    }
}
