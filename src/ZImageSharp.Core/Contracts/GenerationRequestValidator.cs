using ZImageSharp.Errors;

namespace ZImageSharp.Contracts;

/// <summary>Checks every field of a request at once, so a client learns all its mistakes from one answer.</summary>
public static class GenerationRequestValidator
{
    public static IReadOnlyList<FieldError> Check(GenerationRequest request, RequestLimits limits)
    {
        var errors = new List<FieldError>();
        if (request.Prompt is null)
            errors.Add(new("prompt", "is required."));
        else if (request.Prompt.Length > limits.MaxPromptCharacters)
            errors.Add(new("prompt", $"must be at most {limits.MaxPromptCharacters} characters (got {request.Prompt.Length})."));
        if (request.NegativePrompt is { Length: var n } && n > limits.MaxPromptCharacters)
            errors.Add(new("negative_prompt", $"must be at most {limits.MaxPromptCharacters} characters (got {n})."));
        CheckSize("width", request.Width, limits, errors);
        CheckSize("height", request.Height, limits, errors);
        if (request.Steps < limits.MinSteps || request.Steps > limits.MaxSteps)
            errors.Add(new("steps", $"must be between {limits.MinSteps} and {limits.MaxSteps} (got {request.Steps})."));
        if (request.Count < 1 || request.Count > limits.MaxCount)
            errors.Add(new("count", $"must be between 1 and {limits.MaxCount} (got {request.Count})."));
        if (request.Seed is < 0)
            errors.Add(new("seed", $"must be between 0 and {long.MaxValue}, or omitted for a random seed (got {request.Seed})."));
        if (!float.IsFinite(request.GuidanceScale) || request.GuidanceScale < 0 || request.GuidanceScale > 30)
            errors.Add(new("guidance_scale", $"must be between 0 and 30 (got {request.GuidanceScale})."));
        if (!float.IsFinite(request.CfgTruncation) || request.CfgTruncation < 0 || request.CfgTruncation > 1)
            errors.Add(new("cfg_truncation", $"must be between 0 and 1 (got {request.CfgTruncation})."));
        if (!float.IsFinite(request.CfgNormalization) || request.CfgNormalization < 0 || request.CfgNormalization > 10)
            errors.Add(new("cfg_normalization", $"must be between 0 (off) and 10 (got {request.CfgNormalization})."));
        if (request.Shift is { } shift && (!float.IsFinite(shift) || shift <= 0 || shift > 100))
            errors.Add(new("shift", $"must be above 0 and at most 100 (got {shift})."));
        if (!limits.Samplers.Contains(request.Sampler, StringComparer.OrdinalIgnoreCase))
            errors.Add(new("sampler", $"must be one of: {string.Join(", ", limits.Samplers)} (got '{request.Sampler}')."));
        return errors;
    }

    /// <summary>Throws <see cref="InvalidRequestException"/> listing every invalid field.</summary>
    public static void Validate(GenerationRequest request, RequestLimits limits)
    {
        var errors = Check(request, limits);
        if (errors.Count > 0) throw new InvalidRequestException(errors);
    }

    private static void CheckSize(string field, int value, RequestLimits limits, List<FieldError> errors)
    {
        if (value < limits.MinSize || value > limits.MaxSize || value % limits.SizeMultiple != 0)
            errors.Add(new(field,
                $"must be a multiple of {limits.SizeMultiple} between {limits.MinSize} and {limits.MaxSize} (got {value})."));
    }
}
