using TorchSharp;
using Xunit.Abstractions;

namespace ZImageSharp.Engine.Tests.Transformer;

/// <summary>Relative-error checks for parity tests: ‖actual − expected‖ / ‖expected‖ in float64.</summary>
internal static class TensorAssert
{
    public const double ParityTolerance = 1e-4;

    public static double RelativeError(torch.Tensor actual, torch.Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var a = actual.detach().to(torch.float64, torch.CPU);
        using var e = expected.detach().to(torch.float64, torch.CPU);
        using var diff = a - e;
        double numerator = diff.norm().item<double>();
        double denominator = e.norm().item<double>();
        return numerator / Math.Max(denominator, 1e-30);
    }

    /// <summary>Asserts parity and logs the measured error (shown by <c>dotnet test --logger "console;verbosity=detailed"</c>).</summary>
    public static double Close(torch.Tensor actual, torch.Tensor expected, string what, ITestOutputHelper? output = null,
        double tolerance = ParityTolerance)
    {
        double error = RelativeError(actual, expected);
        output?.WriteLine($"{what}: relative error {error:E3}");
        Assert.True(error <= tolerance, $"{what}: relative error {error:E3} exceeds {tolerance:E1}.");
        return error;
    }
}
