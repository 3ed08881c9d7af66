using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZImageSharp.Contracts;
using ZImageSharp.Errors;
using ZImageSharp.Server.Apis;

namespace ZImageSharp.Server.Tests;

/// <summary>How the APIs name LoRAs: the native field, A1111's prompt tags, and the refusals that must be a 400.</summary>
public sealed class LoraSyntaxTests
{
    private static JsonElement Body(string json) => JsonDocument.Parse(json).RootElement;

    [Fact]
    public void NativeLorasFieldTakesObjectsAndStrings()
    {
        var request = NativeRequest.Parse(Body("""{"prompt":"a cat","loras":[{"name":"style","strength":0.8},"detail:-0.5",{"name":"plain"}]}"""), RequestLimits.Default);
        Assert.Equal([new LoraRequest("style", 0.8f), new LoraRequest("detail", -0.5f), new LoraRequest("plain", 1f)], request.Loras);
    }

    [Fact]
    public void A1111PromptTagsBecomeLorasAndLeaveThePrompt()
    {
        var request = Automatic1111Api.Parse(Body("""{"prompt":"a cat <lora:style:0.8> on a mat <lora:detail>"}"""), RequestLimits.Default);
        Assert.Equal("a cat on a mat", request.Prompt);
        Assert.Equal([new LoraRequest("style", 0.8f), new LoraRequest("detail", 1f)], request.Loras);
    }

    [Fact]
    public void BadLorasAreNamedInOneError()
    {
        var e = Assert.Throws<InvalidRequestException>(() => NativeRequest.Parse(
            Body("""{"prompt":"x","loras":[{"name":"a","strength":9},{"strength":1},{"name":"b","weight":1}]}"""), RequestLimits.Default));
        Assert.Contains(e.Errors, f => f.Field == "loras[0].strength" && f.Message.Contains("between -4 and 4"));
        Assert.Contains(e.Errors, f => f.Field == "loras[1]" && f.Message.Contains("name"));
        Assert.Contains(e.Errors, f => f.Field == "loras[2]" && f.Message.Contains("'weight'"));
        var tag = Assert.Throws<InvalidRequestException>(() => Automatic1111Api.Parse(Body("""{"prompt":"<lora:style:lots>"}"""), RequestLimits.Default));
        Assert.Contains(tag.Errors, f => f.Field == "prompt" && f.Message.Contains("'lots'"));
    }

    [Fact]
    public void PathsAreRefusedAndTheCatalogIsAsked()
    {
        var services = new ServiceCollection().AddSingleton<ILoraCatalog>(new FakeCatalog()).BuildServiceProvider();
        var http = new DefaultHttpContext { RequestServices = services };
        var paths = new GenerationRequest { Prompt = "x", Loras = [new("/etc/passwd"), new("../up"), new("ok")] };
        var e = Assert.Throws<InvalidRequestException>(() => LoraSyntax.Check(http, paths));
        Assert.Equal(["loras[0]", "loras[1]"], e.Errors.Select(f => f.Field));
        var missing = new GenerationRequest { Prompt = "x", Loras = [new("ok"), new("missing")] };
        var m = Assert.Throws<InvalidRequestException>(() => LoraSyntax.Check(http, missing));
        Assert.Equal("loras[1]", Assert.Single(m.Errors).Field);
        LoraSyntax.Check(http, new GenerationRequest { Prompt = "x", Loras = [new("ok", 0.5f)] });
        Assert.Equal(["ok"], LoraSyntax.List(http).Loras);
    }

    private sealed class FakeCatalog : ILoraCatalog
    {
        public IReadOnlyList<string> ListLoras() => ["ok"];

        public IReadOnlyList<FieldError> CheckLoras(IReadOnlyList<LoraRequest> loras) =>
            loras.Select((l, i) => (l, i)).Where(x => x.l.Name != "ok").Select(x => new FieldError($"loras[{x.i}]", $"'{x.l.Name}' is not there.")).ToList();
    }
}
