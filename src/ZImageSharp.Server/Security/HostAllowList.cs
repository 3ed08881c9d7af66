using System.Net;

namespace ZImageSharp.Server.Security;

/// <summary>The Host headers the server answers to. A DNS-rebinding page reaches this server under the attacker's
/// own name, so unknown names are refused: loopback names (localhost, *.localhost, 127.0.0.1, [::1]), the address
/// it listens on, and the configured names pass. An IP literal cannot be rebound, so when the server listens on
/// every address, any IP literal passes too (behind NAT or in a container the address a client used is not one
/// the machine can list).</summary>
internal sealed class HostAllowList
{
    private readonly HashSet<string> _names = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _suffixes = [];
    private readonly HashSet<IPAddress> _addresses = [];
    private readonly bool _anyHost;
    private readonly bool _anyAddress;

    /// <param name="configured">Names (<c>gpu.example.com</c>), wildcards (<c>*.lan</c>) or <c>*</c> for any.</param>
    /// <param name="listenHosts">The hosts of the addresses the server listens on.</param>
    public HostAllowList(IEnumerable<string> configured, IEnumerable<string> listenHosts)
    {
        foreach (string entry in configured.Select(Normalize))
        {
            if (entry == "*") _anyHost = true;
            else if (entry.StartsWith("*.", StringComparison.Ordinal)) _suffixes.Add(entry[1..]);
            else Add(entry);
        }
        foreach (string host in listenHosts.Select(Normalize))
        {
            if (ListenAddresses.IsEveryAddress(host))
            {
                _anyAddress = true;
                // The machine's own name, as a browser on the network would type it.
                if (MachineName() is { Length: > 0 } machine)
                {
                    _names.Add(machine);
                    _names.Add(machine + ".local");
                }
            }
            if (host is not ("*" or "+")) Add(host);
        }
    }

    /// <summary>True when the server answers to <paramref name="host"/> (the Host header without its port). A
    /// request without one (HTTP/1.0) passes: no browser sends it.</summary>
    public bool Allows(string host)
    {
        if (host.Length == 0 || _anyHost) return true;
        host = Normalize(host);
        if (IPAddress.TryParse(host.Trim('[', ']'), out var ip))
            return _anyAddress || ListenAddresses.IsLoopback(ip) || _addresses.Contains(ip);
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase) // browsers resolve these to loopback themselves
            || _names.Contains(host)
            || _suffixes.Any(suffix => host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase));
    }

    private void Add(string host)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var ip)) _addresses.Add(ip);
        else _names.Add(host);
    }

    private static string? MachineName()
    {
        try
        {
            return Normalize(Dns.GetHostName());
        }
        catch (System.Net.Sockets.SocketException)
        {
            return null;
        }
    }

    // "Example.COM." and "example.com" are one name.
    private static string Normalize(string host) => host.Trim().TrimEnd('.').ToLowerInvariant();
}
