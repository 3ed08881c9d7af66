namespace ZImageSharp.Engine.Diagnostics;

/// <summary>How one compared output (or one whole fixture set) came out.</summary>
public enum ParityOutcome
{
    Passed,
    Failed,
    /// <summary>The fixture set is absent from the reference folder: nothing was checked, so it never counts as passed.</summary>
    Skipped,
}

/// <summary>
/// One row of a parity run: an output of a fixture set compared with the reference implementation's output.
/// </summary>
/// <param name="Set">The fixture set, e.g. <c>dit_case1</c>.</param>
/// <param name="Output">What was compared, e.g. <c>out.1</c> or <c>latents_after_step.3</c>.</param>
/// <param name="DType">The compute dtype the models ran in: <c>fp32</c> or <c>bf16</c>.</param>
/// <param name="RelativeError">‖out − ref‖ / ‖ref‖ computed in float64 on the CPU; null when nothing was compared.</param>
/// <param name="Tolerance">The largest relative error that passes at this dtype.</param>
/// <param name="Note">Why a row was skipped or failed without a number, or what is special about it; null otherwise.</param>
/// <param name="RoundingFloor">bf16 rows only: the relative error of float32 compute with the weights and inputs
/// rounded to bf16, i.e. what bf16 storage alone costs on this fixture. An error near it is the fixture's
/// conditioning; an error far above it is the bf16 compute path.</param>
public sealed record ParityRow(string Set, string Output, string DType, double? RelativeError, double Tolerance,
    ParityOutcome Outcome, string? Note = null, double? RoundingFloor = null)
{
    public bool Passed => Outcome == ParityOutcome.Passed;
}
