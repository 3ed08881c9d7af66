using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ZImageSharp.Imaging;

/// <summary>The five PNG row filters (PNG spec section 9) and their inverses.</summary>
/// <remarks>
/// Encoding predicts every byte from the unfiltered row and the row above only, never from earlier residuals, so each
/// filter is one SIMD expression over whole vectors, and a row's ragged end is handled by one more vector that overlaps
/// the previous one (it rewrites the same values). The encoder runs all five filters on every row, which made this
/// the larger part of encoding time before it was vectorized.
/// </remarks>
internal static class PngFilters
{
    public const byte Count = 5;

    /// <summary>Filters <paramref name="row"/> into <paramref name="output"/> and returns the sum of the residuals
    /// taken as signed bytes (libpng's "minimum sum of absolute differences" heuristic).</summary>
    public static long Apply(byte filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> above, int bpp, Span<byte> output)
    {
        // The vector loops read and write without bounds checks; these are the bounds they rely on.
        ArgumentOutOfRangeException.ThrowIfLessThan(above.Length, row.Length, nameof(above));
        ArgumentOutOfRangeException.ThrowIfLessThan(output.Length, row.Length, nameof(output));
        ArgumentOutOfRangeException.ThrowIfLessThan(bpp, 1);
        switch (filter)
        {
            case 0:
                row.CopyTo(output);
                break;
            case 1:
                Filter<SubPredictor>(row, above, bpp, output);
                break;
            case 2:
                Filter<UpPredictor>(row, above, bpp, output);
                break;
            case 3:
                Filter<AveragePredictor>(row, above, bpp, output);
                break;
            case 4:
                Filter<PaethPredictor>(row, above, bpp, output);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(filter), filter, "PNG row filters are 0-4.");
        }
        return SumOfAbsoluteSignedBytes(output[..row.Length]);
    }

    /// <summary>Undoes <paramref name="filter"/> in place on <paramref name="row"/>.</summary>
    public static void Reverse(byte filter, Span<byte> row, ReadOnlySpan<byte> above, int bpp)
    {
        if (filter > 4)
            throw new InvalidDataException($"The PNG uses row filter {filter}; only filters 0-4 exist.");
        for (int i = 0; i < row.Length; i++)
        {
            int left = i >= bpp ? row[i - bpp] : 0;
            int up = above[i];
            int upLeft = i >= bpp ? above[i - bpp] : 0;
            row[i] = (byte)(row[i] + Predict(filter, left, up, upLeft));
        }
    }

    /// <summary>The byte filter <paramref name="filter"/> predicts from its three neighbours (0 where a neighbour is
    /// left of the image), as the PNG spec defines it.</summary>
    public static int Predict(byte filter, int left, int up, int upLeft) => filter switch
    {
        0 => 0,
        1 => left,
        2 => up,
        3 => (left + up) >> 1,
        _ => Paeth(left, up, upLeft),
    };

    /// <summary>Sum over <paramref name="bytes"/> of |b| with b read as a signed byte.</summary>
    internal static long SumOfAbsoluteSignedBytes(ReadOnlySpan<byte> bytes)
    {
        long sum = 0;
        int i = 0;
        if (Avx2.IsSupported && bytes.Length >= Vector256<byte>.Count)
        {
            // |b| of a signed byte read back unsigned is exact, -128 included (it stays 0x80 = 128); the
            // sum of absolute differences against zero then adds 8 such bytes into each 64-bit lane.
            ref byte start = ref MemoryMarshal.GetReference(bytes);
            var lanes = Vector256<long>.Zero;
            for (; i <= bytes.Length - Vector256<byte>.Count; i += Vector256<byte>.Count)
            {
                var magnitude = Vector256.Abs(Vector256.LoadUnsafe(ref start, (nuint)i).AsSByte()).AsByte();
                lanes += Avx2.SumAbsoluteDifferences(magnitude, Vector256<byte>.Zero).AsInt64();
            }
            sum = Vector256.Sum(lanes);
        }
        else if (Vector.IsHardwareAccelerated && bytes.Length >= Vector<byte>.Count)
        {
            // Portable path (Arm64): widen to 16-bit lanes, which hold 128 additions of 2 × 255 before they
            // could overflow, then fold into the 64-bit total.
            ref byte start = ref MemoryMarshal.GetReference(bytes);
            while (i <= bytes.Length - Vector<byte>.Count)
            {
                var lanes = Vector<ushort>.Zero;
                for (int n = 0; n < 128 && i <= bytes.Length - Vector<byte>.Count; n++, i += Vector<byte>.Count)
                {
                    var magnitude = Vector.AsVectorByte(Vector.Abs(Vector.AsVectorSByte(Vector.LoadUnsafe(ref start, (nuint)i))));
                    Vector.Widen(magnitude, out var low, out var high);
                    lanes += low + high;
                }
                Vector.Widen(lanes, out var low32, out var high32);
                sum += Vector.Sum(low32 + high32);
            }
        }
        for (; i < bytes.Length; i++)
        {
            int signed = (sbyte)bytes[i];
            sum += signed < 0 ? -signed : signed; // not Math.Abs, which throws on -128
        }
        return sum;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>output[i] = row[i] − predictor(left, up, upLeft), left and upLeft being 0 for the first pixel.</summary>
    private static void Filter<TPredictor>(ReadOnlySpan<byte> row, ReadOnlySpan<byte> above, int bpp, Span<byte> output)
        where TPredictor : struct, IPredictor
    {
        int length = row.Length;
        int head = Math.Min(bpp, length);
        for (int i = 0; i < head; i++)
            output[i] = (byte)(row[i] - TPredictor.Predict(0, above[i], 0));

        int width = Vector<byte>.Count;
        if (!Vector.IsHardwareAccelerated || length - bpp < width)
        {
            for (int i = bpp; i < length; i++)
                output[i] = (byte)(row[i] - TPredictor.Predict(row[i - bpp], above[i], above[i - bpp]));
            return;
        }

        ref byte current = ref MemoryMarshal.GetReference(row);
        ref byte up = ref MemoryMarshal.GetReference(above);
        ref byte result = ref MemoryMarshal.GetReference(output);
        for (int i = bpp; ; i += width)
        {
            // The last vector ends exactly at the row's end, overlapping the one before when the length is ragged.
            if (i > length - width)
                i = length - width;
            var residual = Vector.LoadUnsafe(ref current, (nuint)i) - TPredictor.Predict(
                Vector.LoadUnsafe(ref current, (nuint)(i - bpp)),
                Vector.LoadUnsafe(ref up, (nuint)i),
                Vector.LoadUnsafe(ref up, (nuint)(i - bpp)));
            residual.StoreUnsafe(ref result, (nuint)i);
            if (i == length - width)
                break;
        }
    }

    /// <summary>One filter's predictor, scalar (the first pixel) and per vector (the rest of the row).</summary>
    private interface IPredictor
    {
        static abstract int Predict(int left, int up, int upLeft);

        static abstract Vector<byte> Predict(Vector<byte> left, Vector<byte> up, Vector<byte> upLeft);
    }

    private readonly struct SubPredictor : IPredictor
    {
        public static int Predict(int left, int up, int upLeft) => left;

        public static Vector<byte> Predict(Vector<byte> left, Vector<byte> up, Vector<byte> upLeft) => left;
    }

    private readonly struct UpPredictor : IPredictor
    {
        public static int Predict(int left, int up, int upLeft) => up;

        public static Vector<byte> Predict(Vector<byte> left, Vector<byte> up, Vector<byte> upLeft) => up;
    }

    private readonly struct AveragePredictor : IPredictor
    {
        public static int Predict(int left, int up, int upLeft) => (left + up) >> 1;

        // floor((a + b) / 2) without leaving 8 bits: the shared bits plus half the differing ones.
        public static Vector<byte> Predict(Vector<byte> left, Vector<byte> up, Vector<byte> upLeft) =>
            (left & up) + Vector.ShiftRightLogical(left ^ up, 1);
    }

    private readonly struct PaethPredictor : IPredictor
    {
        public static int Predict(int left, int up, int upLeft) => Paeth(left, up, upLeft);

        // With p = a + b − c: pa = |b − c|, pb = |a − c| and pc = |(a − c) + (b − c)|, which is pa + pb when a − c
        // and b − c have the same sign and |pa − pb| otherwise. pc is only compared with pa and pb (both ≤ 255),
        // so saturating it at 255 keeps every comparison's outcome and the whole computation stays in bytes.
        public static Vector<byte> Predict(Vector<byte> a, Vector<byte> b, Vector<byte> c)
        {
            var pa = Vector.Max(b, c) - Vector.Min(b, c);
            var pb = Vector.Max(a, c) - Vector.Min(a, c);
            var sameSign = ~(Vector.GreaterThanOrEqual(a, c) ^ Vector.GreaterThanOrEqual(b, c));
            var saturatedSum = Vector.Min(pa, ~pb) + pb; // min(pa + pb, 255)
            var difference = Vector.Max(pa, pb) - Vector.Min(pa, pb);
            var pc = Vector.ConditionalSelect(sameSign, saturatedSum, difference);

            var useA = Vector.LessThanOrEqual(pa, pb) & Vector.LessThanOrEqual(pa, pc);
            var useB = Vector.LessThanOrEqual(pb, pc);
            return Vector.ConditionalSelect(useA, a, Vector.ConditionalSelect(useB, b, c));
        }
    }
}
