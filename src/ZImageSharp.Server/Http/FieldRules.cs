using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Http;

/// <summary>What each generation field accepts, in words, from the model's limits. Shared by the type errors of
/// every API so that "width" reads the same whether it was a string or out of range.</summary>
internal static class FieldRules
{
    public static Func<string, string> For(RequestLimits limits) => field => field switch
    {
        "prompt" or "negative_prompt" => $"a string of at most {limits.MaxPromptCharacters} characters",
        "width" or "height" => $"an integer multiple of {limits.SizeMultiple} between {limits.MinSize} and {limits.MaxSize}",
        "size" => $"\"WIDTHxHEIGHT\" with each side a multiple of {limits.SizeMultiple} between {limits.MinSize} and {limits.MaxSize}, or \"auto\"",
        "steps" => $"an integer between {limits.MinSteps} and {limits.MaxSteps}",
        "seed" => $"an integer between 0 and {long.MaxValue}, or null for a random seed",
        "count" or "n" => $"an integer between 1 and {limits.MaxCount}",
        "batch_size" or "n_iter" => $"an integer from 1 such that batch_size × n_iter is at most {limits.MaxCount}",
        "guidance_scale" => "a number between 0 (guidance off) and 30",
        "cfg_scale" => "a number between 0 and 31 (A1111's classic scale: 1 or less turns guidance off, c is guidance c − 1)",
        "cfg_truncation" => "a number between 0 and 1",
        "cfg_normalization" => "a number between 0 (off) and 10",
        "shift" => "a number above 0 and at most 100, or null for the model's default",
        "sampler" => $"one of: {string.Join(", ", limits.Samplers)}",
        "scheduler" => $"one of: {string.Join(", ", limits.Schedulers)}",
        "sampler_name" or "sampler_index" => $"one of: {string.Join(", ", Apis.A1111Samplers.SamplerLabels)} (or: {string.Join(", ", limits.Samplers)})",
        "response_format" => "\"b64_json\" or \"url\"",
        "init_image" or "mask" or "init_images" or "image" => "a base64-encoded PNG (8-bit RGB or RGBA) of the requested size",
        "strength" or "denoising_strength" => "a number above 0 and at most 1",
        "limit" => "an integer between 1 and the server's page size",
        _ => "a value of the documented type",
    };
}
