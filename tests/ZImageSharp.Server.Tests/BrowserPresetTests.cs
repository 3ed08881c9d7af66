using System.Text.Json.Nodes;
using Microsoft.Playwright;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Tests.Infrastructure;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests;

/// <summary>The page shows the guidance scale and the negative prompt only where they do something: on under a preset
/// that runs CFG (Z-Image base), behind an off switch under Turbo; its steps start at the preset's.</summary>
public sealed class BrowserPresetTests
{
    private static Task<LiveServer> StartAsync(GenerationPreset preset)
    {
        var generator = new FakeImageGenerator();
        generator.Model = generator.Model with { Limits = RequestLimits.Default with { Preset = preset } };
        return LiveServer.StartAsync(generator);
    }

    private static async Task GoToAsync(IPage page, LiveServer server)
    {
        await page.GotoAsync(server.BaseAddress.ToString());
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync("fake-tiny");
    }

    private static async Task<JsonNode> SubmitAsync(IPage page)
    {
        var submitted = page.WaitForRequestAsync(r => r.Method == "POST" && r.Url.EndsWith("/api/jobs", StringComparison.Ordinal));
        await page.Locator("#generate").ClickAsync();
        var body = JsonNode.Parse((await submitted).PostData!)!;
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("Done in", new() { Timeout = 20_000 });
        return body;
    }

    [SkippableFact]
    [Trait("Category", "Browser")]
    public async Task Under_base_guidance_and_the_negative_prompt_show_with_the_presets_values()
    {
        Skip.IfNot(HeadlessChromium.IsInstalled, HeadlessChromium.MissingReason);
        await using var server = await StartAsync(GenerationPreset.Base);
        await using var browser = await BrowserPage.OpenAsync();
        var page = browser.Page;
        await GoToAsync(page, server);

        await Assertions.Expect(page.Locator("#steps")).ToHaveValueAsync("50");
        await Assertions.Expect(page.Locator("#guidance-on")).ToBeCheckedAsync();
        await Assertions.Expect(page.Locator("#guidance")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#guidance")).ToHaveValueAsync("4");
        await Assertions.Expect(page.Locator("#negative-field")).ToBeVisibleAsync();
        await browser.ScreenshotAsync("web-page-base-preset.png");

        await page.Locator("#prompt").FillAsync("a base lighthouse");
        await page.Locator("#steps").FillAsync("4");
        await page.Locator("#negative-prompt").FillAsync("blurry");
        var body = await SubmitAsync(page);
        Assert.Equal((4.0, "blurry", 4), ((double)body["guidance_scale"]!, (string)body["negative_prompt"]!, (int)body["steps"]!));
        await Assertions.Expect(page.Locator(".card .meta").First).ToContainTextAsync("4 steps · seed");
        await Assertions.Expect(page.Locator(".card .meta").First).ToContainTextAsync("guidance 4");

        // Off is sent as 0 (base would run CFG otherwise), and hides what no longer acts.
        await page.Locator("#guidance-on").UncheckAsync();
        await Assertions.Expect(page.Locator("#negative-field")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#guidance")).ToBeHiddenAsync();
        body = await SubmitAsync(page);
        Assert.Equal((0.0, ""), ((double)body["guidance_scale"]!, (string)body["negative_prompt"]!));

        // "Use these settings" of the guided job turns guidance back on with its scale and negative prompt.
        var guided = page.Locator(".card", new() { Has = page.Locator(".meta", new() { HasText = "guidance 4" }) }).First;
        await guided.Locator("button", new() { HasText = "Use these settings" }).ClickAsync();
        await Assertions.Expect(page.Locator("#guidance-on")).ToBeCheckedAsync();
        await Assertions.Expect(page.Locator("#negative-prompt")).ToHaveValueAsync("blurry");
        browser.AssertNoErrors();
    }

    [SkippableFact]
    [Trait("Category", "Browser")]
    public async Task Under_turbo_they_hide_until_the_user_turns_guidance_on()
    {
        Skip.IfNot(HeadlessChromium.IsInstalled, HeadlessChromium.MissingReason);
        await using var server = await StartAsync(GenerationPreset.Turbo);
        await using var browser = await BrowserPage.OpenAsync();
        var page = browser.Page;
        await GoToAsync(page, server);

        await Assertions.Expect(page.Locator("#steps")).ToHaveValueAsync("8");
        await Assertions.Expect(page.Locator("#guidance-on")).Not.ToBeCheckedAsync();
        await Assertions.Expect(page.Locator("#guidance")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#negative-field")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#guidance-note")).ToHaveTextAsync("Off: this model has guidance distilled in.");

        await page.Locator("#prompt").FillAsync("a turbo lighthouse");
        await page.Locator("#steps").FillAsync("2");
        var body = await SubmitAsync(page);
        Assert.Equal((0.0, ""), ((double)body["guidance_scale"]!, (string)body["negative_prompt"]!));

        await page.Locator("#guidance-on").CheckAsync();
        await Assertions.Expect(page.Locator("#negative-field")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#guidance-note")).ToContainTextAsync("twice the work");
        await page.Locator("#guidance").FillAsync("2.5");
        await page.Locator("#negative-prompt").FillAsync("grainy");
        body = await SubmitAsync(page);
        Assert.Equal((2.5, "grainy"), ((double)body["guidance_scale"]!, (string)body["negative_prompt"]!));
        browser.AssertNoErrors();
    }
}
