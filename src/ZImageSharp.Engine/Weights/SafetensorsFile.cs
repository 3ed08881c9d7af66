using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using ZImageSharp.Engine.Native;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// Where one tensor lies: its dtype, shape and byte range [Begin, End) in the data section of the file that holds it.
/// A tensor derived by a key map (a split or reshaped view) reports Begin 0 and End = its byte count.
/// </summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ByteCount => End - Begin;

    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);
}

/// <summary>
/// A safetensors file opened for reading one tensor at a time: an 8-byte little-endian header length, a JSON header,
/// then raw little-endian data. The whole header is validated on open, so a damaged file fails before any model is
/// built. Tensors are read straight into tensor memory, never through a managed buffer of the whole file.
/// </summary>
public sealed class SafetensorsFile : IWeightSource, IDirectReadSource, IRowSliceSource
{
    // One pread of a large tensor runs at what one core can copy out of the page cache; two or more threads reading
    // disjoint halves reach the memory bandwidth instead (platform.md: 1.1 GB file, 2.9-3.7 GB/s with two threads).
    private const long ParallelReadThresholdBytes = 32L << 20;
    private const long ParallelReadChunkAlignment = 1L << 20;
    private static readonly int ReadThreads = Math.Clamp(Environment.ProcessorCount, 1, 4);

    // Each pread copies at most 16 MiB: measured as fast as or faster than one call per tensor (4.0-5.1 vs 1.8-5.7 GB/s).
    private const int MaxReadCallBytes = 16 << 20;

    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafetensorsEntry> _entries;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries => _entries;
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, SafeFileHandle handle, long dataStart,
        Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        _dataStart = dataStart;
        _entries = entries;
        Metadata = metadata;
    }

    /// <summary>Opens a file and validates its header (not its data) completely.</summary>
    /// <exception cref="CheckpointException">The file cannot be opened or its header is malformed.</exception>
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
            var header = SafetensorsHeader.Read(path, handle);
            return new SafetensorsFile(path, handle, header.DataStart, header.Entries, header.Metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public string Origin => Path;
    public IReadOnlyCollection<string> Names => _entries.Keys;
    public bool Contains(string name) => _entries.ContainsKey(name);

    public SafetensorsEntry Describe(string name) =>
        _entries.TryGetValue(name, out var entry)
            ? entry
            : throw new CheckpointException($"'{Path}' has no tensor named '{name}'.", Path, name);

    /// <summary>Reads one tensor into a new CPU tensor of the file's dtype.</summary>
    public torch.Tensor Read(string name)
    {
        var entry = Describe(name);
        return ReadRange(entry, entry.Begin, entry.ByteCount, entry.Shape);
    }

    /// <summary>Reads rows [firstRow, firstRow + rowCount) of dimension 0 without reading the rest of the tensor.</summary>
    public torch.Tensor ReadRows(string name, long firstRow, long rowCount)
    {
        var (entry, begin, bytes, shape) = RowRange(name, firstRow, rowCount);
        return ReadRange(entry, begin, bytes, shape);
    }

    /// <summary>Reads rows [firstRow, firstRow + rowCount) of dimension 0 into a contiguous CPU tensor of the stored dtype.</summary>
    public void ReadRowsInto(string name, long firstRow, long rowCount, torch.Tensor destination)
    {
        var (entry, begin, bytes, _) = RowRange(name, firstRow, rowCount);
        CheckDestination(entry, destination, bytes);
        ReadBytes(entry.Name, _dataStart + begin, bytes, TorchNative.DataPointer(destination));
    }

    private (SafetensorsEntry Entry, long Begin, long Bytes, long[] Shape) RowRange(string name, long firstRow, long rowCount)
    {
        var entry = Describe(name);
        if (entry.Shape.Length == 0 || firstRow < 0 || rowCount < 0 || firstRow + rowCount > entry.Shape[0])
            throw new ArgumentOutOfRangeException(nameof(firstRow),
                $"Rows [{firstRow}, {firstRow + rowCount}) are outside tensor '{name}' of shape [{string.Join(", ", entry.Shape)}].");
        long rowBytes = entry.Shape[0] == 0 ? 0 : entry.ByteCount / entry.Shape[0];
        var shape = (long[])entry.Shape.Clone();
        shape[0] = rowCount; // [rowCount, ...rest]
        return (entry, entry.Begin + firstRow * rowBytes, rowCount * rowBytes, shape);
    }

    private torch.Tensor ReadRange(SafetensorsEntry entry, long begin, long byteCount, long[] shape)
    {
        var tensor = torch.empty(shape, SafetensorsDType.ToScalarType(entry.DType));
        try
        {
            ReadBytes(entry.Name, _dataStart + begin, byteCount, TorchNative.DataPointer(tensor));
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Every tensor of a file can be read as stored (an unknown name throws, as everywhere).</summary>
    public bool CanReadInto(string name)
    {
        Describe(name);
        return true;
    }

    /// <summary>Reads tensor <paramref name="name"/> into a contiguous CPU tensor of its dtype and element count.</summary>
    public void ReadInto(string name, torch.Tensor destination) => ReadInto(Describe(name), destination);

    /// <summary>Reads the bytes of <paramref name="entry"/> into a contiguous CPU tensor of its dtype and element count.</summary>
    public void ReadInto(SafetensorsEntry entry, torch.Tensor destination)
    {
        CheckDestination(entry, destination, entry.ByteCount);
        ReadBytes(entry.Name, _dataStart + entry.Begin, entry.ByteCount, TorchNative.DataPointer(destination));
    }

    private static void CheckDestination(SafetensorsEntry entry, torch.Tensor destination, long bytes)
    {
        if (destination.device_type != DeviceType.CPU || !destination.is_contiguous()
            || destination.dtype != SafetensorsDType.ToScalarType(entry.DType)
            || destination.numel() * destination.element_size() != bytes)
            throw new ArgumentException(
                $"Tensor '{entry.Name}' ({entry.DType}, {bytes} bytes) needs a contiguous CPU destination of that dtype and size.",
                nameof(destination));
    }

    private void ReadBytes(string tensorName, long fileOffset, long length, IntPtr destination)
    {
        if (length < ParallelReadThresholdBytes || ReadThreads == 1)
        {
            ReadSpan(tensorName, fileOffset, length, destination);
            return;
        }
        long chunk = (length / ReadThreads + ParallelReadChunkAlignment - 1) / ParallelReadChunkAlignment * ParallelReadChunkAlignment;
        Parallel.For(0, ReadThreads, new ParallelOptions { MaxDegreeOfParallelism = ReadThreads }, part =>
        {
            long start = part * chunk;
            long count = Math.Min(chunk, length - start);
            if (count > 0) ReadSpan(tensorName, fileOffset + start, count, destination + (nint)start);
        });
    }

    private unsafe void ReadSpan(string tensorName, long fileOffset, long length, IntPtr destination)
    {
        byte* dst = (byte*)destination;
        long done = 0;
        while (done < length)
        {
            int chunk = (int)Math.Min(length - done, MaxReadCallBytes);
            int read = RandomAccess.Read(_handle, new Span<byte>(dst + done, chunk), fileOffset + done);
            if (read <= 0)
                throw new CheckpointException(
                    $"'{Path}' ended while reading tensor '{tensorName}': the file was truncated after it was opened.", Path, tensorName);
            done += read;
        }
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>Parses and validates a safetensors header; every failure names the file and, where one is to blame, the tensor.</summary>
internal sealed class SafetensorsHeader
{
    public required long DataStart { get; init; }
    public required Dictionary<string, SafetensorsEntry> Entries { get; init; }
    public required Dictionary<string, string> Metadata { get; init; }

    // The reference implementation (huggingface/safetensors) refuses headers above 100 MB; so do we.
    private const long MaxHeaderBytes = 100_000_000;

    public static SafetensorsHeader Read(string path, SafeFileHandle handle)
    {
        long fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
            throw new CheckpointException(
                $"'{path}' is truncated: it has {fileLength} bytes, fewer than the 8-byte header length every safetensors file starts with.", path);
        Span<byte> lengthBytes = stackalloc byte[8];
        RandomAccess.Read(handle, lengthBytes, 0);
        long headerLength = BitConverter.ToInt64(lengthBytes); // little-endian on every platform .NET runs this engine on
        if (headerLength <= 0 || headerLength > fileLength - 8)
            throw new CheckpointException(
                $"'{path}' declares a {headerLength}-byte JSON header, but only {fileLength - 8} bytes follow the length field " +
                "(the header length lies beyond the end of the file: a truncated file, or not a safetensors file).", path);
        if (headerLength > MaxHeaderBytes)
            throw new CheckpointException(
                $"'{path}' declares a {headerLength}-byte JSON header, above the {MaxHeaderBytes}-byte safetensors limit.", path);
        var headerBytes = new byte[headerLength];
        RandomAccess.Read(handle, headerBytes, 8);
        long dataStart = 8 + headerLength;
        long dataLength = fileLength - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes); }
        catch (JsonException e)
        {
            throw new CheckpointException($"'{path}' has a header that is not valid JSON ({e.Message}).", path, inner: e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(
                    $"'{path}' has a header that is a JSON {doc.RootElement.ValueKind}, not an object of tensor entries.", path);
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    ReadMetadata(path, prop.Value, metadata);
                    continue;
                }
                if (entries.ContainsKey(prop.Name))
                    throw new CheckpointException($"'{path}' lists tensor '{prop.Name}' twice in its header.", path, prop.Name);
                entries.Add(prop.Name, ParseEntry(path, prop.Name, prop.Value));
            }
            CheckNoOverlap(path, entries.Values);
            CheckWithinData(path, entries.Values, dataLength);
            return new SafetensorsHeader { DataStart = dataStart, Entries = entries, Metadata = metadata };
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"'{path}' has a \"__metadata__\" entry that is not a JSON object of strings.", path);
        foreach (var m in value.EnumerateObject())
            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new CheckpointException(
                $"'{path}': tensor '{name}' needs \"dtype\" (a string), \"shape\" (an array) and \"data_offsets\" (two numbers); its entry is {Abbreviate(e.GetRawText())}.",
                path, name);
        string dtype = dtypeEl.GetString()!;
        if (!SafetensorsDType.IsKnown(dtype))
            throw new CheckpointException(
                $"'{path}': tensor '{name}' has unknown dtype '{dtype}' (supported: {string.Join(", ", SafetensorsDType.Known)}).", path, name);
        var shape = new long[shapeEl.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out shape[i]) || shape[i] < 0)
                throw new CheckpointException(
                    $"'{path}': tensor '{name}' has an invalid shape {shapeEl.GetRawText()} (dimensions must be non-negative integers).", path, name);
            i++;
        }
        if (offEl[0].ValueKind != JsonValueKind.Number || offEl[1].ValueKind != JsonValueKind.Number
            || !offEl[0].TryGetInt64(out long begin) || !offEl[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointException(
                $"'{path}': tensor '{name}' has invalid data_offsets {offEl.GetRawText()} (two integers, 0 <= begin <= end).", path, name);
        long expected;
        try
        {
            long elements = 1;
            foreach (var d in shape) elements = checked(elements * d);
            expected = SafetensorsDType.ByteCount(dtype, elements);
        }
        catch (OverflowException)
        {
            throw new CheckpointException(
                $"'{path}': tensor '{name}' has shape {shapeEl.GetRawText()}, too large to address.", path, name);
        }
        if (expected != end - begin)
            throw new CheckpointException(
                $"'{path}': tensor '{name}' has shape [{string.Join(", ", shape)}] of {dtype} = {expected} bytes, " +
                $"but its data_offsets [{begin}, {end}) span {end - begin} bytes (shape and byte count do not match).", path, name);
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static void CheckNoOverlap(string path, IEnumerable<SafetensorsEntry> entries)
    {
        SafetensorsEntry? previous = null;
        foreach (var e in entries.Where(e => e.ByteCount > 0).OrderBy(e => e.Begin))
        {
            if (previous is not null && e.Begin < previous.End)
                throw new CheckpointException(
                    $"'{path}': the data of tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{e.Name}' [{e.Begin}, {e.End}) overlap.",
                    path, e.Name);
            previous = e;
        }
    }

    private static void CheckWithinData(string path, ICollection<SafetensorsEntry> entries, long dataLength)
    {
        var beyond = entries.Where(e => e.End > dataLength).OrderBy(e => e.Begin).FirstOrDefault();
        if (beyond is null) return;
        // A writer lays tensors end to end from offset 0. If they still tile [0, end) and only the tail is missing, the
        // file was cut short (an interrupted download); otherwise the offsets themselves point outside the file.
        long end = entries.Max(e => e.End);
        long covered = 0;
        foreach (var e in entries.OrderBy(e => e.Begin))
        {
            if (e.Begin != covered) break;
            covered = e.End;
        }
        if (covered == end)
            throw new CheckpointException(
                $"'{path}' is truncated: its header describes {end} bytes of tensor data but only {dataLength} bytes follow the header " +
                $"(tensor '{beyond.Name}' is cut off; re-download the file).", path, beyond.Name);
        throw new CheckpointException(
            $"'{path}': tensor '{beyond.Name}' has data_offsets [{beyond.Begin}, {beyond.End}) beyond the {dataLength}-byte data section (offsets out of range).",
            path, beyond.Name);
    }

    private static string Abbreviate(string json) => json.Length <= 120 ? json : json[..117] + "...";
}
