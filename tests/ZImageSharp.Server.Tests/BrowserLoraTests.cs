using System.Buffers.Binary;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Xunit.Abstractions;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>The page's LoRA picker with the real engine: the demo model and a LoRA made for its shapes
/// (tests/data/lora/demo) in the server's LoRA folder. Picking it must reach the engine (the image changes against the
/// same seed without it) and the record (the job's <c>loras</c>, the PNG's <c>Lora hashes</c>).</summary>
public sealed class BrowserLoraTests(TinyEngineWithLorasFixture tiny, ITestOutputHelper output) : IClassFixture<TinyEngineWithLorasFixture>
{
    private const string LoraName = "demo-style";
    private const string Prompt = "a tiny lighthouse, demo noise, with a lora";
    private const long Seed = 4242;

    [SkippableFact]
    [Trait("Category", "Browser")]
    public async Task The_page_picks_a_lora_generates_with_it_and_the_image_and_its_parameters_show_it()
    {
        Skip.IfNot(HeadlessChromium.IsInstalled, HeadlessChromium.MissingReason);

        await using var live = new ServerFactory();
        var address = tiny.ServeOnLoopback(live);
        using var http = new HttpClient { BaseAddress = address };
        await using var browser = await BrowserPage.OpenAsync();
        var page = browser.Page;

        await page.GotoAsync(address.ToString());
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync(tiny.Engine.Model.Name);
        await Assertions.Expect(page.Locator("#lora-row")).ToBeVisibleAsync();
        Assert.Equal(["", LoraName], await page.Locator("#lora option").EvaluateAllAsync<string[]>("os => os.map(o => o.value)"));

        await page.Locator("#prompt").FillAsync(Prompt);
        await page.Locator("#width").FillAsync("128");
        await page.Locator("#height").FillAsync("128");
        await page.Locator("#steps").FillAsync("3");
        await page.Locator("#seed-random").UncheckAsync();
        await page.Locator("#seed").FillAsync(Seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.Locator("#lora").SelectOptionAsync(LoraName);
        await page.Locator("#lora-strength").FillAsync("1");
        var withLora = await GenerateAsync(page, http);

        await page.Locator("#lora").SelectOptionAsync("");
        var without = await GenerateAsync(page, http);

        // The record: the job keeps the request's LoRA, the PNG names it with A1111's hash of the file.
        var loras = withLora.Job["request"]!["loras"]!.AsArray();
        var lora = Assert.Single(loras)!;
        Assert.Equal(LoraName, (string)lora["name"]!);
        Assert.Equal(1.0, (double)lora["strength"]!);
        Assert.Empty(without.Job["request"]!["loras"]!.AsArray());
        Assert.Equal(Seed, (long)withLora.Job["images"]![0]!["seed"]!);
        Assert.Equal(Seed, (long)without.Job["images"]![0]!["seed"]!);

        string parameters = withLora.Png.GetText("parameters") ?? throw new Xunit.Sdk.XunitException("the PNG has no parameters text");
        output.WriteLine(parameters);
        Assert.Contains($"<lora:{LoraName}:1>", parameters);
        Assert.Contains($"Lora hashes: \"{LoraName}: {ShortHash(Path.Combine(TinyEngineWithLorasFixture.Folder, LoraName + ".safetensors"))}\"", parameters);
        Assert.DoesNotContain("Lora hashes", without.Png.GetText("parameters") ?? "");

        // The engine applied it: same prompt, seed and size, other pixels.
        Assert.Equal((128, 128), (withLora.Png.Width, withLora.Png.Height));
        Assert.Equal((128, 128), (without.Png.Width, without.Png.Height));
        double meanDifference = MeanAbsoluteDifference(withLora.Png.Pixels!, without.Png.Pixels!);
        output.WriteLine($"mean |Δ| per channel with vs without the LoRA: {meanDifference:F2} of 255");
        Assert.True(meanDifference > 0.5, $"the LoRA changed the image by only {meanDifference:F3} of 255 per channel");

        // The gallery card's "Use these settings" brings the LoRA back into the picker.
        var loraCard = page.Locator(".card", new() { Has = page.Locator(".prompt", new() { HasText = Prompt }) }).Last;
        await loraCard.Locator("button", new() { HasText = "Use these settings" }).ClickAsync();
        await Assertions.Expect(page.Locator("#lora")).ToHaveValueAsync(LoraName);
        browser.AssertNoErrors();
    }

    /// <summary>Clicks Generate, waits for the new result and returns its job record and decoded PNG.</summary>
    private static async Task<(JsonNode Job, PngInfo Png)> GenerateAsync(IPage page, HttpClient http)
    {
        string? before = await page.Locator("#results img").CountAsync() > 0 ? await page.Locator("#results img").First.GetAttributeAsync("src") : null;
        await page.Locator("#generate").ClickAsync();
        await page.WaitForFunctionAsync("before => { const i = document.querySelector('#results img'); return i && i.getAttribute('src') !== before && i.complete && i.naturalWidth > 0; }",
            before, new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("Done in");
        string src = (await page.Locator("#results img").First.GetAttributeAsync("src"))!;
        // The page shows /api/jobs/{id}/images/{index}: the job record is one segment up.
        var path = new Uri(http.BaseAddress!, src).AbsolutePath.Split('/');
        Assert.Equal("images", path[^2]);
        var job = (await http.GetFromJsonAsync<JsonNode>($"/api/jobs/{path[^3]}"))!;
        Assert.Equal("succeeded", (string)job["state"]!);
        byte[] png = await http.GetByteArrayAsync(src);
        return (job, PngReader.Read(png, decodePixels: true));
    }

    /// <summary>A1111's LoRA hash: SHA-256 of the file after its safetensors header, its first 12 hex digits.</summary>
    private static string ShortHash(string file)
    {
        byte[] bytes = File.ReadAllBytes(file);
        long header = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        return Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan((int)(8 + header))))[..12];
    }

    private static double MeanAbsoluteDifference(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        long sum = 0;
        for (int i = 0; i < a.Length; i++) sum += Math.Abs(a[i] - b[i]);
        return (double)sum / a.Length;
    }
}
