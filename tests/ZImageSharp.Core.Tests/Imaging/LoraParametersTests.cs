using ZImageSharp.Contracts;
using ZImageSharp.Imaging;

namespace ZImageSharp.Core.Tests.Imaging;

public sealed class LoraParametersTests
{
    [Fact]
    public void LorasAreTaggedInThePromptAndHashedAsA1111Does()
    {
        var request = new GenerationRequest { Prompt = "a cat <lora:detail:0.5>", Seed = 1, Loras = [new("style", 0.8f), new("/x/detail.safetensors", 0.5f)] };
        var p = ImageParameters.For(request, 1, 64, 64, "Z-Image-Turbo").WithLoras(request.Loras, "style: 0123456789ab, detail: ba9876543210");
        string text = p.ToInfotext();
        Assert.StartsWith("a cat <lora:detail:0.5> <lora:style:0.8>\n", text);
        Assert.EndsWith("Lora hashes: \"style: 0123456789ab, detail: ba9876543210\"", text);
        Assert.Equal(p, ImageParameters.FromJson(p.ToJson()) with { Extra = p.Extra });
        Assert.Same(p, p.WithLoras([], null));
    }

    [Fact]
    public void TheValidatorChecksLoraStrengthsCountsAndNames()
    {
        var bad = new GenerationRequest
        {
            Prompt = "x",
            Loras = [new("a", 4.5f), new("", 1f), new("b", float.NaN), new("a", 1f)],
        };
        var errors = GenerationRequestValidator.Check(bad, RequestLimits.Default);
        Assert.Contains(errors, e => e.Field == "loras[0].strength");
        Assert.Contains(errors, e => e.Field == "loras[1]");
        Assert.Contains(errors, e => e.Field == "loras[2].strength");
        Assert.Contains(errors, e => e.Field == "loras" && e.Message.Contains("'a' twice"));
        var many = new GenerationRequest { Prompt = "x", Loras = Enumerable.Range(0, 9).Select(i => new LoraRequest($"l{i}")).ToList() };
        Assert.Contains(GenerationRequestValidator.Check(many, RequestLimits.Default), e => e.Field == "loras" && e.Message.Contains("at most 8"));
        Assert.Empty(GenerationRequestValidator.Check(new GenerationRequest { Prompt = "x", Loras = [new("a", -1f), new("b", 0.8f)] }, RequestLimits.Default));
    }
}
