using System.Globalization;
using System.Text;

namespace ZImageSharp.Planning;

/// <summary>The two rates of a card that a reference profile is scaled by, measured in a second or so
/// (<c>Engine/Diagnostics/CardRateProbe</c>): bf16 matrix products at the transformer's sizes, and copies from host
/// memory to the device.</summary>
/// <param name="PinnedHostToDeviceBytesPerSecond">Page-locked host memory to the device (what streaming uses); null
/// where there is no device to copy to (the CPU).</param>
/// <param name="PageableHostToDeviceBytesPerSecond">Ordinary host memory to the device (recorded, not planned with).</param>
public sealed record CardRates(double MatmulTeraflopsPerSecond, double? PinnedHostToDeviceBytesPerSecond = null,
    double? PageableHostToDeviceBytesPerSecond = null);

/// <summary>Which card a profile belongs to: a profile is only this card's when the name, the memory and the driver
/// all match (a driver update changes kernels and copy paths, so it asks for a new calibration).</summary>
/// <param name="DeviceName">The name the driver gives (e.g. "NVIDIA H200"), or "CPU (…)" for the processor.</param>
/// <param name="TotalMemoryBytes">The card's memory (host RAM for the CPU).</param>
/// <param name="Driver">The driver version; null for the CPU.</param>
public sealed record CardIdentity(string DeviceName, long TotalMemoryBytes, string? Driver)
{
    /// <summary>A file-name-safe key, e.g. <c>nvidia-h200-143771mib-driver-580.159.04</c>.</summary>
    public string Key
    {
        get
        {
            var key = new StringBuilder();
            foreach (char c in $"{DeviceName} {TotalMemoryBytes >> 20}MiB" + (Driver is null ? "" : $" driver {Driver}"))
            {
                char lower = char.ToLowerInvariant(c);
                if (lower is >= 'a' and <= 'z' or >= '0' and <= '9' or '.') key.Append(lower);
                else if (key.Length > 0 && key[^1] != '-') key.Append('-');
            }
            return key.ToString().Trim('-');
        }
    }

    public override string ToString() =>
        $"{DeviceName}, {(TotalMemoryBytes / (double)(1L << 30)).ToString("0.#", CultureInfo.InvariantCulture)} GiB" +
        (Driver is null ? "" : $", driver {Driver}");
}
