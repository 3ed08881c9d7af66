using Microsoft.Playwright;

namespace ZImageSharp.Server.Tests.Infrastructure;

/// <summary>Debian's Chromium driven by Playwright (never a downloaded browser): the flags keep it off the network
/// this machine does not have, and a fresh profile folder keeps runs independent.</summary>
internal static class HeadlessChromium
{
    public const string Path = "/usr/bin/chromium";
    public const string MissingReason = Path + " is not installed; scripts/install-browser.sh installs it.";

    public static bool IsInstalled => File.Exists(Path);

    public static Task<IBrowserContext> LaunchAsync(IPlaywright playwright, string profileFolder) =>
        playwright.Chromium.LaunchPersistentContextAsync(profileFolder, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = Path,
            Headless = true,
            Args =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
            ViewportSize = new ViewportSize { Width = 1400, Height = 1000 },
        });

    /// <summary>Collects the page's script errors and every answer of 400 or more (with its URL; Chromium's own
    /// console line for it names no URL), except those <paramref name="expected"/> allows.</summary>
    public static List<string> WatchErrors(IPage page, Func<IResponse, bool>? expected = null)
    {
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource: the server responded", StringComparison.Ordinal))
                errors.Add($"{message.Text} ({message.Location})");
        };
        page.PageError += (_, error) => errors.Add(error);
        page.Response += (_, response) =>
        {
            if (response.Status >= 400 && expected?.Invoke(response) != true)
                errors.Add($"{response.Request.Method} {response.Url} answered {response.Status}");
        };
        return errors;
    }
}

