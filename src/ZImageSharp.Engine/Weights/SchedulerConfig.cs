using System.Globalization;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// The value of a checkpoint's <c>scheduler/scheduler_config.json</c> the engine uses: the flow-matching shift. Read
/// and checked when the checkpoint is (see <see cref="CheckpointPreflight"/>), so a broken file is an error naming it,
/// and a shift the scheduler cannot use (0, negative) is a checkpoint error before loading, not a failure of the first
/// generation.
/// </summary>
public static class SchedulerConfig
{
    /// <summary>Z-Image-Turbo's shift; what a checkpoint without a scheduler config (single files) runs with.</summary>
    public const double ReleasedShift = 3.0;

    /// <summary>diffusers' FlowMatchEulerDiscreteScheduler default, for a config that does not set "shift".</summary>
    public const double DefaultShift = 1.0;

    /// <exception cref="CheckpointException">The file cannot be read, is not a JSON object, or its shift is not a number above 0.</exception>
    public static double ReadShift(string? path)
    {
        if (path is null) return ReleasedShift;
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read the scheduler config '{path}': {e.Message}", path, inner: e);
        }
        return JsonConfigReader.Parse(text, path, r =>
        {
            double shift = r.Double("shift", DefaultShift);
            if (!double.IsFinite(shift) || shift <= 0)
                throw r.Unsupported("shift", $"is {shift.ToString(CultureInfo.InvariantCulture)}; the flow-matching shift must be a number above 0 (Z-Image-Turbo's is {ReleasedShift.ToString("0.0", CultureInfo.InvariantCulture)}).");
            return shift;
        });
    }
}
