using System.Globalization;

namespace ZImageSharp.Contracts;

// Reference: diffusers src/diffusers/pipelines/z_image/pipeline_z_image_img2img.py (get_timesteps)

/// <summary>Which steps of the schedule image-to-image runs: diffusers skips the first
/// <c>int(max(N − min(N·s, N), 0))</c> and noises the init image to the σ of the first step that runs.</summary>
public static class ImageEditSchedule
{
    /// <summary>The index of the first step that runs, 0 … steps.</summary>
    public static int FirstStep(int steps, float strength)
    {
        // Python computes in float64 from the decimal the caller wrote (0.6, not 0.6000000238…): the float's shortest
        // round-trip string gives that decimal back, so int(8 − 8·0.6) is 3 here too.
        double s = double.Parse(strength.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        double init = Math.Min(steps * s, steps);
        return (int)Math.Max(steps - init, 0);
    }

    /// <summary>Transformer evaluations (per branch) an edit at this strength runs.</summary>
    public static int StepsRun(int steps, float strength) => steps - FirstStep(steps, strength);
}
