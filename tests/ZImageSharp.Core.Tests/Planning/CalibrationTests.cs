using ZImageSharp.Planning;

namespace ZImageSharp.Core.Tests.Planning;

public class CalibrationTests
{
    public static TheoryData<string> Curves => new() { "textEncode", "transformerForward", "vaeDecodeBf16", "vaeDecodeFloat32" };

    private static ActivationCurve Curve(string name)
    {
        var model = ActivationModel.Reference;
        return name switch
        {
            "textEncode" => model.TextEncode,
            "transformerForward" => model.TransformerForward,
            "vaeDecodeBf16" => model.VaeDecodeBf16,
            _ => model.VaeDecodeFloat32,
        };
    }

    [Theory]
    [MemberData(nameof(Curves))]
    public void EveryCurveReproducesItsMeasurementsWithinThreePercent(string name)
    {
        var curve = Curve(name);
        Assert.NotEmpty(curve.Measured);
        foreach (var point in curve.Measured)
        {
            double predictedGiB = curve.Predict(point.Batch, point.Units) / (double)(1L << 30);
            Assert.True(Math.Abs(predictedGiB / point.GiB - 1) <= 0.03,
                $"{name} at {point.Label}: predicted {predictedGiB:0.000} GiB, measured {point.GiB} GiB.");
        }
    }

    [Fact]
    public void ReferenceSpeedsReproduceTheMeasuredStreamingRun()
    {
        // anchors.md §4: the 30 main blocks streamed from pinned memory (bf16) took 207.9 ms a forward at 1024x1024
        // with a 128-token caption, 142.6 ms resident; the model says each block costs max(compute, copy).
        // The run predates the float32 islands: its blocks held their adaLN Linear in bf16, 2 bytes for each of the
        // 180,910,336 parameters (this engine's block is 7,895,040 bytes larger, see FootprintTests).
        var speed = SpeedProfile.Reference;
        long runBlockBytes = 2L * 180_910_336;
        double forward = 0.1426, blockCompute = forward * 4224 / (30 * 4224 + 2 * 4096 + 2 * 128.0);
        double copy = runBlockBytes / speed.HostToDeviceBytesPerSecond;
        double streamed = forward + 30 * (Math.Max(blockCompute, copy) - blockCompute);
        Assert.InRange(streamed, 0.2079 * 0.97, 0.2079 * 1.03);
    }

    [Fact]
    public void CalibrationRoundTripsThroughJson()
    {
        var json = PlannerCalibration.Default.ToJson();
        var again = PlannerCalibration.FromJson(json);
        Assert.Equal(PlannerCalibration.Default.Speed.HostToDeviceBytesPerSecond, again.Speed.HostToDeviceBytesPerSecond);
        Assert.Equal(PlannerCalibration.Default.Activations.TransformerForward.BytesPerUnit, again.Activations.TransformerForward.BytesPerUnit);
        Assert.Equal(13, again.Activations.TransformerForward.Measured.Count);
    }

    [Fact]
    public void InvalidSpeedProfileIsRejectedWithTheFieldName()
    {
        var json = PlannerCalibration.Default.ToJson().Replace("\"hostToDeviceBytesPerSecond\": 53900000000", "\"hostToDeviceBytesPerSecond\": 0");
        var error = Assert.Throws<FormatException>(() => PlannerCalibration.FromJson(json));
        Assert.Contains("HostToDeviceBytesPerSecond", error.Message);
    }
}
