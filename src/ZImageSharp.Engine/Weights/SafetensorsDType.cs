using TorchSharp;

namespace ZImageSharp.Engine.Weights;

/// <summary>The safetensors dtype names this engine reads, and their libtorch types.</summary>
public static class SafetensorsDType
{
    // TorchSharp 0.107 has no enum names for float8; the numbers are libtorch's ScalarType values.
    public const torch.ScalarType Float8E4M3 = (torch.ScalarType)24;
    public const torch.ScalarType Float8E5M2 = (torch.ScalarType)23;

    private static readonly (string Name, torch.ScalarType Type, int Size)[] Table =
    [
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("F8_E4M3", Float8E4M3, 1),
        ("F8_E5M2", Float8E5M2, 1),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
    ];

    private static readonly Dictionary<string, (torch.ScalarType Type, int Size)> ByName =
        Table.ToDictionary(t => t.Name, t => (t.Type, t.Size), StringComparer.Ordinal);

    private static readonly Dictionary<torch.ScalarType, string> ByType = Table.ToDictionary(t => t.Type, t => t.Name);

    public static IEnumerable<string> Known => ByName.Keys;
    public static bool IsKnown(string dtype) => ByName.ContainsKey(dtype);
    public static torch.ScalarType ToScalarType(string dtype) => ByName[dtype].Type;
    public static int ElementSize(string dtype) => ByName[dtype].Size;
    public static long ByteCount(string dtype, long elements) => checked(elements * ByName[dtype].Size);

    /// <summary>The safetensors name of a libtorch dtype (for writing files).</summary>
    public static string FromScalarType(torch.ScalarType type) =>
        ByType.TryGetValue(type, out var name)
            ? name
            : throw new ArgumentException($"dtype {type} has no safetensors name this engine writes.", nameof(type));

    public static bool IsFloat8(string dtype) => dtype is "F8_E4M3" or "F8_E5M2";
}
