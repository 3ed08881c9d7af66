using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace ZImageSharp.Server.Security;

/// <summary>Where the server listens, as far as security cares: this machine only (loopback), one address, or every
/// address (0.0.0.0, [::], *, or a host name, which Kestrel binds on every interface).</summary>
internal static class ListenAddresses
{
    /// <summary>The addresses the configuration gives Kestrel: <c>urls</c> (--urls, ASPNETCORE_URLS),
    /// <c>http_ports</c>/<c>https_ports</c> (every interface) and <c>Kestrel:Endpoints:*:Url</c>. With none, Kestrel
    /// listens on localhost:5000.</summary>
    public static IReadOnlyList<string> Configured(IConfiguration configuration)
    {
        var urls = new List<string>();
        if (configuration["urls"] is { Length: > 0 } list)
            urls.AddRange(list.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        foreach (var (key, scheme) in new[] { ("http_ports", "http"), ("https_ports", "https") })
            if (configuration[key] is { Length: > 0 } ports)
                urls.AddRange(ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"{scheme}://*:{p}"));
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
            if (endpoint["Url"] is { Length: > 0 } url)
                urls.Add(url);
        return urls;
    }

    /// <summary>The host part of a listen address, or null when it is not one (Kestrel will say why).</summary>
    public static string? Host(string url)
    {
        try
        {
            var address = BindingAddress.Parse(url);
            return address.IsUnixPipe || address.IsNamedPipe ? "localhost" : address.Host;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>True when only this machine can reach <paramref name="url"/> (also for sockets and pipes).</summary>
    public static bool IsLoopback(string url) => Host(url) is not { } host || IsLoopbackHost(host);

    public static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IsLoopback(ip));

    /// <summary>True when a listen host means every address of the machine.</summary>
    public static bool IsEveryAddress(string host) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var ip)
            ? ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)
            : !host.Equals("localhost", StringComparison.OrdinalIgnoreCase);

    public static bool IsLoopback(IPAddress address) =>
        IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}
