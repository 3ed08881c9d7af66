using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using ZImageSharp.Server.Hosting;

namespace ZImageSharp.Server.Security;

/// <summary>Stops the server before it listens when its keys, allowed hosts or origins are malformed, or when it would
/// listen on the network without a key (unless <see cref="ZImageServerOptions.AllowUnauthenticatedNetwork"/>).</summary>
internal sealed partial class SecurityOptionsValidator(IConfiguration configuration) : IValidateOptions<ZImageServerOptions>
{
    [GeneratedRegex(@"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$", RegexOptions.IgnoreCase)]
    private static partial Regex HostName();

    public ValidateOptionsResult Validate(string? name, ZImageServerOptions options)
    {
        var errors = new List<string>();
        var keys = ApiKeyRing.Load(options, configuration, errors);

        for (int i = 0; i < options.AllowedHosts.Count; i++)
        {
            string host = options.AllowedHosts[i].Trim();
            if (host != "*" && !HostName().IsMatch(host) && !IPAddress.TryParse(host.Trim('[', ']'), out _))
                errors.Add($"{ZImageServerOptions.SectionName}:AllowedHosts:{i} must be a host name (gpu.example.com), a wildcard " +
                           $"(*.lan), an IP address or *, without scheme or port (got '{Shorten(host)}').");
        }
        for (int i = 0; i < options.AllowedOrigins.Count; i++)
        {
            string origin = options.AllowedOrigins[i].Trim();
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || uri.PathAndQuery != "/" || uri.UserInfo.Length > 0 || origin.EndsWith('/'))
                errors.Add($"{ZImageServerOptions.SectionName}:AllowedOrigins:{i} must be an origin like https://gpu.example.com " +
                           $"(scheme, host and port only) (got '{Shorten(origin)}').");
        }

        if (!keys.Enabled && !options.AllowUnauthenticatedNetwork
            && ListenAddresses.Configured(configuration).FirstOrDefault(url => !ListenAddresses.IsLoopback(url)) is { } exposed)
            errors.Add($"The server would listen on {exposed}, which other machines can reach, and it has no API key, so anyone " +
                       $"there could generate, cancel and delete. Configure a key ({ApiKeyRing.EnvironmentVariable}=<key>, " +
                       $"{ZImageServerOptions.SectionName}:ApiKeys or :ApiKeysFile, or zimage serve --api-key <key>; `openssl rand -hex 32` " +
                       "makes one), listen on 127.0.0.1 only, or pass --insecure-no-auth " +
                       $"({ZImageServerOptions.SectionName}:AllowUnauthenticatedNetwork=true) to serve the network without authentication.");

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
