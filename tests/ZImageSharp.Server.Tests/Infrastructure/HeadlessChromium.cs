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
}
