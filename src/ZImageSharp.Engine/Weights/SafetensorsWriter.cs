using System.Text;
using System.Text.Json;
using TorchSharp;
using ZImageSharp.Engine.Native;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// Writes named tensors as one safetensors file: tensors laid end to end in the given order, the JSON header padded
/// with spaces to a multiple of 8 bytes (as huggingface/safetensors does, so the data section stays aligned).
/// For fixtures, converted checkpoints and tests; each tensor is written from its own memory, one at a time.
/// </summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = BuildHeader(list, metadata);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        BitConverter.TryWriteBytes(length, (long)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var (_, tensor) in list)
            WriteData(stream, tensor);
    }

    private static byte[] BuildHeader(List<KeyValuePair<string, torch.Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                if (!names.Add(name)) throw new ArgumentException($"Tensor '{name}' is listed twice.", nameof(tensors));
                long bytes = tensor.numel() * tensor.element_size();
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDType.FromScalarType(tensor.dtype));
                json.WriteStartArray("shape");
                foreach (var d in tensor.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - buffer.Length % 8) % 8);
        buffer.Write(Encoding.ASCII.GetBytes(new string(' ', padding)));
        return buffer.ToArray();
    }

    private static unsafe void WriteData(Stream stream, torch.Tensor tensor)
    {
        using var cpu = tensor.device_type == DeviceType.CPU ? tensor.alias() : tensor.cpu();
        using var contiguous = cpu.contiguous();
        long bytes = contiguous.numel() * contiguous.element_size();
        if (bytes == 0) return;
        byte* src = (byte*)TorchNative.DataPointer(contiguous);
        for (long done = 0; done < bytes;)
        {
            int chunk = (int)Math.Min(bytes - done, 1 << 30);
            stream.Write(new ReadOnlySpan<byte>(src + done, chunk));
            done += chunk;
        }
    }
}
