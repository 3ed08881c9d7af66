using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Planning;

namespace ZImageSharp.Core.Tests.Contracts;

public class EditRequestTests
{
    private static EditImage Gray(int width, int height, byte value = 128) =>
        new(width, height, Enumerable.Repeat(value, width * height * 3).ToArray());

    private static GenerationRequest Edit(EditImage? init, float strength = 0.6f, EditImage? mask = null, int steps = 8) =>
        new() { Prompt = "x", Width = 512, Height = 256, Steps = steps, InitImage = init, Strength = strength, Mask = mask };

    private static IReadOnlyList<ZImageSharp.Errors.FieldError> Check(GenerationRequest request) =>
        GenerationRequestValidator.Check(request, RequestLimits.Default);

    [Theory]
    [InlineData(8, 1.0f, 0)]
    [InlineData(8, 0.6f, 3)]     // Python: int(8 − 4.8) = 3, from the decimal 0.6, not 0.6000000238
    [InlineData(8, 0.75f, 2)]
    [InlineData(10, 0.3f, 7)]    // 10·0.3 = 3.0000000000000004 in float64, and 10 minus it rounds to 7.0
    [InlineData(50, 0.01f, 49)]
    [InlineData(4, 0.25f, 3)]
    public void FirstStepIsDiffusersGetTimesteps(int steps, float strength, int expectedFirst)
    {
        Assert.Equal(expectedFirst, ImageEditSchedule.FirstStep(steps, strength));
        Assert.Equal(steps - expectedFirst, ImageEditSchedule.StepsRun(steps, strength));
    }

    [Fact]
    public void AValidEditHasNoErrorsAndEncodesTheImageInThePlan()
    {
        var request = Edit(Gray(512, 256), mask: Gray(512, 256, 255));
        Assert.Empty(Check(request));
        Assert.True(PlannerRequest.From(request).EncodesImage);
        Assert.False(PlannerRequest.From(request with { InitImage = null, Mask = null }).EncodesImage);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-0.1f)]
    [InlineData(1.01f)]
    [InlineData(float.NaN)]
    public void StrengthOutsideZeroToOneIsRefused(float strength)
    {
        var error = Assert.Single(Check(Edit(Gray(512, 256), strength)));
        Assert.Equal("strength", error.Field);
        Assert.StartsWith("must be above 0 and at most 1", error.Message);
    }

    [Fact]
    public void AStrengthThatRunsNoStepIsRefused()
    {
        // diffusers runs int-truncated steps: 8·0.1 still runs one (int(7.2) = 7 skipped); 8 − 8·1e-17 is 8.0 in float64.
        Assert.Equal(1, ImageEditSchedule.StepsRun(8, 0.1f));
        Assert.Empty(Check(Edit(Gray(512, 256), 0.1f, steps: 8)));
        var error = Assert.Single(Check(Edit(Gray(512, 256), 1e-17f, steps: 8)));
        Assert.Equal("strength", error.Field);
        Assert.StartsWith("is too small to run any of the 8 steps", error.Message);
    }

    [Fact]
    public void AnInitImageOfAnotherSizeIsRefused()
    {
        var error = Assert.Single(Check(Edit(Gray(256, 256))));
        Assert.Equal("init_image", error.Field);
        Assert.Contains("512x256 (got 256x256)", error.Message);
    }

    [Fact]
    public void AMaskOfAnotherSizeOrWithoutAnImageIsRefused()
    {
        Assert.Equal("mask", Assert.Single(Check(Edit(Gray(512, 256), mask: Gray(512, 512)))).Field);
        Assert.Equal("mask", Assert.Single(Check(Edit(null, mask: Gray(512, 256)))).Field);
    }

    [Fact]
    public void PngsAreReadAsRgbWithAlphaDroppedAndMasksBinarisedByLuma()
    {
        var rgba = PngEncoder.Encode([255, 255, 255, 0, 100, 128, 128, 255], 2, 1, PngColorType.Rgba, []);
        var image = EditImage.FromPng(rgba, "mask");
        Assert.Equal([255, 255, 255, 100, 128, 128], image.Rgb);
        // L = (100·19595 + 128·38470 + 128·7471 + 32768) >> 16 = 120 → 120/255 < 0.5 keeps; white repaints.
        Assert.Equal([true, false], image.MaskBits());
    }

    [Fact]
    public void BytesThatAreNotAPngNameTheField()
    {
        var error = Assert.Throws<ArgumentException>(() => EditImage.FromPng("GIF89a"u8.ToArray(), "init_image"));
        Assert.StartsWith("init_image: The data is not a PNG", error.Message);
    }
}
