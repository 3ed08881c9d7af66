using ZImageSharp.Errors;

namespace ZImageSharp.Contracts;

/// <summary>Checks every field of a request at once, so a client learns all its mistakes from one answer.</summary>
public static class GenerationRequestValidator
{
    /// <summary>
    /// The largest seed (2⁶³ − 1, the documented range of every API). Image i of a request uses seed + i, so the
    /// validator refuses a seed whose last image would pass it instead of letting it wrap to a negative seed that no
    /// request could ask for again.
    /// </summary>
    public const long MaxSeed = long.MaxValue;

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
            errors.Add(new("steps", $"must be {Allowed("steps", limits)} (got {request.Steps})."));
        bool countValid = request.Count >= 1 && request.Count <= limits.MaxCount;
        if (!countValid)
            errors.Add(new("count", $"must be {Allowed("count", limits)} (got {request.Count})."));
        if (request.Seed is < 0)
            errors.Add(new("seed", $"must be {Allowed("seed", limits)} (got {request.Seed})."));
        else if (request.Seed is { } seed && countValid && seed > MaxSeed - (request.Count - 1))
            errors.Add(new("seed", $"must be at most {MaxSeed - (request.Count - 1)} for {request.Count} images: image i uses seed + i, " +
                $"and every image seed must stay between 0 and {MaxSeed} (got {seed})."));
        if (!float.IsFinite(request.GuidanceScale) || request.GuidanceScale < 0 || request.GuidanceScale > 30)
            errors.Add(new("guidance_scale", $"must be {Allowed("guidance_scale", limits)} (got {request.GuidanceScale})."));
        if (!float.IsFinite(request.CfgTruncation) || request.CfgTruncation < 0 || request.CfgTruncation > 1)
            errors.Add(new("cfg_truncation", $"must be {Allowed("cfg_truncation", limits)} (got {request.CfgTruncation})."));
        if (!float.IsFinite(request.CfgNormalization) || request.CfgNormalization < 0 || request.CfgNormalization > 10)
            errors.Add(new("cfg_normalization", $"must be {Allowed("cfg_normalization", limits)} (got {request.CfgNormalization})."));
        if (request.Shift is { } shift && (!float.IsFinite(shift) || shift <= 0 || shift > 100))
            errors.Add(new("shift", $"must be {Allowed("shift", limits)} (got {shift})."));
        if (request.Sampler is null || !limits.Samplers.Contains(request.Sampler, StringComparer.OrdinalIgnoreCase))
            errors.Add(new("sampler", $"must be {Allowed("sampler", limits)} (got '{request.Sampler}')."));
        if (request.Scheduler is null || !limits.Schedulers.Contains(request.Scheduler, StringComparer.OrdinalIgnoreCase))
            errors.Add(new("scheduler", $"must be {Allowed("scheduler", limits)} (got '{request.Scheduler}')."));
        CheckLoras(request.Loras, errors);
        CheckEdit(request, errors);
        return errors;
    }

    private static void CheckEdit(GenerationRequest request, List<FieldError> errors)
    {
        if (request.InitImage is null)
        {
            if (request.Mask is not null)
                errors.Add(new("mask", "needs an init image: a mask says which parts of the init image to repaint."));
            return;
        }
        if (!float.IsFinite(request.Strength) || request.Strength <= 0 || request.Strength > 1)
            errors.Add(new("strength", $"must be above 0 and at most 1 (got {request.Strength})."));
        else if (request.Steps >= 1 && ImageEditSchedule.StepsRun(request.Steps, request.Strength) < 1)
            errors.Add(new("strength", $"is too small to run any of the {request.Steps} steps (got {request.Strength}); " +
                "steps × strength rounds away to nothing."));
        var image = request.InitImage;
        if (image.Width != request.Width || image.Height != request.Height)
            errors.Add(new("init_image", $"must be the requested size {request.Width}x{request.Height} (got {image.Width}x{image.Height}); " +
                "resize it or ask for its size."));
        if (request.Mask is { } mask && (mask.Width != image.Width || mask.Height != image.Height))
            errors.Add(new("mask", $"must be the init image's size {image.Width}x{image.Height} (got {mask.Width}x{mask.Height})."));
    }

    private static void CheckLoras(IReadOnlyList<LoraRequest>? loras, List<FieldError> errors)
    {
        if (loras is null) return;
        if (loras.Count > LoraRequest.MaxCount)
            errors.Add(new("loras", $"must list at most {LoraRequest.MaxCount} LoRAs (got {loras.Count})."));
        for (int i = 0; i < loras.Count; i++)
        {
            var lora = loras[i];
            if (lora is null || string.IsNullOrWhiteSpace(lora.Name))
                errors.Add(new($"loras[{i}]", "needs a name (a file in the LoRA folder, without .safetensors)."));
            else if (!float.IsFinite(lora.Strength) || lora.Strength < LoraRequest.MinStrength || lora.Strength > LoraRequest.MaxStrength)
                errors.Add(new($"loras[{i}].strength", $"must be {Allowed("lora_strength", RequestLimits.Default)} (got {lora.Strength})."));
        }
        var twice = loras.Where(l => l is not null && !string.IsNullOrWhiteSpace(l.Name)).GroupBy(l => l.Name, StringComparer.Ordinal)
            .FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
            errors.Add(new("loras", $"names '{twice.Key}' twice; give it once with the summed strength."));
    }

    /// <summary>What a field accepts, in words that complete "must be …", so a front end that fails to even parse a
    /// value (a CLI option, a form) can say the same as the validator.</summary>
    public static string Allowed(string field, RequestLimits limits) => field switch
    {
        "prompt" or "negative_prompt" => $"a text of at most {limits.MaxPromptCharacters} characters",
        "width" or "height" => $"a multiple of {limits.SizeMultiple} between {limits.MinSize} and {limits.MaxSize}",
        "steps" => $"between {limits.MinSteps} and {limits.MaxSteps}",
        "count" => $"between 1 and {limits.MaxCount}",
        "seed" => $"between 0 and {MaxSeed}, or omitted for a random seed",
        "guidance_scale" => "between 0 and 30",
        "cfg_truncation" => "between 0 and 1",
        "cfg_normalization" => "between 0 (off) and 10",
        "shift" => "above 0 and at most 100",
        "sampler" => $"one of: {string.Join(", ", limits.Samplers)}",
        "scheduler" => $"one of: {string.Join(", ", limits.Schedulers)}",
        "strength" => "above 0 and at most 1",
        "init_image" or "mask" => "a PNG (8-bit RGB or RGBA) of the requested size",
        "lora_strength" => $"between {LoraRequest.MinStrength} and {LoraRequest.MaxStrength}",
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "Not a field of a generation request."),
    };

    /// <summary>Throws <see cref="InvalidRequestException"/> listing every invalid field.</summary>
    public static void Validate(GenerationRequest request, RequestLimits limits)
    {
        var errors = Check(request, limits);
        if (errors.Count > 0) throw new InvalidRequestException(errors);
    }

    private static void CheckSize(string field, int value, RequestLimits limits, List<FieldError> errors)
    {
        if (value < limits.MinSize || value > limits.MaxSize || value % limits.SizeMultiple != 0)
            errors.Add(new(field, $"must be {Allowed(field, limits)} (got {value})."));
    }
}
