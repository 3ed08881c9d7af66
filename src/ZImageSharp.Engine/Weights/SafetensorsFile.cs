using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using ZImageSharp.Engine.Native;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>Where one tensor lies in a safetensors file.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ByteCount => End - Begin;
}

/// <summary>
/// A safetensors file opened for reading one tensor at a time: an 8-byte little-endian header length, a JSON header,
/// then raw little-endian data. Tensors are read straight into tensor memory, never through a managed buffer of the
/// whole file.
/// </summary>
public sealed class SafetensorsFile : IWeightSource
{
    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, SafeFileHandle handle, long dataStart,
        Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        _dataStart = dataStart;
        Entries = entries;
        Metadata = metadata;
    }

    public static SafetensorsFile Open(string path)
    {
        SafeFileHandle handle;
        try { handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot open weight file '{path}': {e.Message}", path, inner: e);
        }
        try
        {
            var (dataStart, entries, metadata) = ReadHeader(path, handle);
            return new SafetensorsFile(path, handle, dataStart, entries, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static (long, Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ReadHeader(string path, SafeFileHandle handle)
    {
        long fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
            throw new CheckpointException($"'{path}' is truncated: {fileLength} bytes, too short for the 8-byte safetensors header length.", path);
        Span<byte> lengthBytes = stackalloc byte[8];
        RandomAccess.Read(handle, lengthBytes, 0);
        long headerLength = BitConverter.ToInt64(lengthBytes);
        if (headerLength <= 0 || headerLength > fileLength - 8)
            throw new CheckpointException(
                $"'{path}' declares a {headerLength}-byte header but the file has only {fileLength - 8} bytes after the length field.", path);
        if (headerLength > 100_000_000)
            throw new CheckpointException($"'{path}' declares a {headerLength}-byte header, above the 100 MB safetensors limit.", path);
        var headerBytes = new byte[headerLength];
        RandomAccess.Read(handle, headerBytes, 8);
        long dataStart = 8 + headerLength;
        long dataLength = fileLength - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes); }
        catch (JsonException e)
        {
            throw new CheckpointException($"'{path}' has a header that is not valid JSON: {e.Message}", path, inner: e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"'{path}' has a header that is not a JSON object.", path);
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in prop.Value.EnumerateObject())
                            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                entries.Add(prop.Name, ParseEntry(path, prop.Name, prop.Value, dataLength));
            }
            CheckNoOverlap(path, entries.Values);
            return (dataStart, entries, metadata);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new CheckpointException(
                $"'{path}': tensor '{name}' needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" (two numbers).", path, name);
        string dtype = dtypeEl.GetString()!;
        if (!SafetensorsDType.IsKnown(dtype))
            throw new CheckpointException(
                $"'{path}': tensor '{name}' has unknown dtype '{dtype}' (supported: {string.Join(", ", SafetensorsDType.Known)}).", path, name);
        var shape = new long[shapeEl.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (!d.TryGetInt64(out shape[i]) || shape[i] < 0)
                throw new CheckpointException($"'{path}': tensor '{name}' has an invalid shape {shapeEl.GetRawText()}.", path, name);
            i++;
        }
        if (!offEl[0].TryGetInt64(out long begin) || !offEl[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointException($"'{path}': tensor '{name}' has invalid data_offsets {offEl.GetRawText()}.", path, name);
        if (end > dataLength)
            throw new CheckpointException(
                $"'{path}': tensor '{name}' ends at byte {end} of the data section, beyond its {dataLength} bytes (offsets out of range, or the file is truncated).", path, name);
        long elements = 1;
        foreach (var d in shape) elements = checked(elements * d);
        long expected = SafetensorsDType.ByteCount(dtype, elements);
        if (expected != end - begin)
            throw new CheckpointException(
                $"'{path}': tensor '{name}' has shape [{string.Join(", ", shape)}] of {dtype} = {expected} bytes, but its offsets span {end - begin} bytes.", path, name);
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static void CheckNoOverlap(string path, IEnumerable<SafetensorsEntry> entries)
    {
        SafetensorsEntry? previous = null;
        foreach (var e in entries.Where(e => e.ByteCount > 0).OrderBy(e => e.Begin))
        {
            if (previous is not null && e.Begin < previous.End)
                throw new CheckpointException(
                    $"'{path}': tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{e.Name}' [{e.Begin}, {e.End}) overlap.", path, e.Name);
            previous = e;
        }
    }

    public string Origin => Path;
    public IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)Entries.Keys;
    public bool Contains(string name) => Entries.ContainsKey(name);

    public SafetensorsEntry Describe(string name) =>
        Entries.TryGetValue(name, out var entry)
            ? entry
            : throw new CheckpointException($"'{Path}' has no tensor named '{name}'.", Path, name);

    /// <summary>Reads one tensor into a new CPU tensor of the file's dtype.</summary>
    public torch.Tensor Read(string name)
    {
        var entry = Describe(name);
        var tensor = torch.empty(entry.Shape, SafetensorsDType.ToScalarType(entry.DType));
        try
        {
            ReadInto(entry, tensor);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Reads the bytes of <paramref name="entry"/> into a contiguous CPU tensor of the same byte size.</summary>
    public unsafe void ReadInto(SafetensorsEntry entry, torch.Tensor destination)
    {
        long bytes = entry.ByteCount;
        if (destination.device_type != DeviceType.CPU || !destination.is_contiguous()
            || destination.numel() * destination.element_size() != bytes)
            throw new ArgumentException("The destination must be a contiguous CPU tensor of exactly the entry's byte size.");
        byte* dst = (byte*)TorchNative.DataPointer(destination);
        long offset = _dataStart + entry.Begin;
        long done = 0;
        while (done < bytes)
        {
            int chunk = (int)Math.Min(bytes - done, 1 << 30);
            int read = RandomAccess.Read(_handle, new Span<byte>(dst + done, chunk), offset + done);
            if (read <= 0)
                throw new CheckpointException($"'{Path}' ended while reading tensor '{entry.Name}' (truncated file).", Path, entry.Name);
            done += read;
        }
    }

    public void Dispose() => _handle.Dispose();
}
