using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace ZImageSharp.Imaging;

/// <summary>One IDAT chunk ready to write: its data is <c>Buffer[..Length]</c>, its CRC covers the type and the data.</summary>
internal readonly record struct PngChunkData(byte[] Buffer, int Length, uint Crc);

/// <summary>
/// Filters and deflates a PNG's rows in bands of about <see cref="BandBytes"/> that run in parallel (as pigz does),
/// and joins them into one zlib stream written as one IDAT chunk per band.
/// </summary>
/// <remarks>
/// Every band but the last ends with a sync flush, which closes its last deflate block on a byte boundary without
/// marking it final, so the bands' raw deflate streams simply concatenate; the last band ends the stream. A band
/// starts with an empty window (the BCL cannot preset a dictionary), which costs well under 1% of the size at this
/// band size. Band boundaries depend only on the image's size, so the same pixels give the same file on any machine.
/// Filtering needs only the unfiltered row above, so bands filter independently too. The Adler-32 of the whole
/// stream is combined from the bands' checksums, and each chunk's CRC is computed by its band's worker.
/// </remarks>
internal static class PngImageData
{
    /// <summary>Filtered bytes a band aims at: large enough that the lost window costs little, small enough that a
    /// 1024² RGB image (3 MiB) gives a dozen bands for the cores to share.</summary>
    internal const int BandBytes = 256 * 1024;

    private static ReadOnlySpan<byte> ChunkType => "IDAT"u8;

    /// <summary>The IDAT chunks of the image, in order.</summary>
    public static unsafe PngChunkData[] Compress(ReadOnlySpan<byte> pixels, int stride, int height, int bytesPerPixel, CompressionLevel level)
    {
        var (bandCount, rowsPerBand) = BandLayout(stride, height);
        var bands = new Band[bandCount];
        fixed (byte* start = pixels)
        {
            // Spans cannot enter the lambdas, so each worker rebuilds one from the pinned pointer.
            nint address = (nint)start;
            int length = pixels.Length;
            void RunBand(int index)
            {
                var image = new ReadOnlySpan<byte>((byte*)address, length);
                int firstRow = index * rowsPerBand;
                int rows = Math.Min(rowsPerBand, height - firstRow);
                bands[index] = CompressBand(image, stride, bytesPerPixel, firstRow, rows, level, isFirst: index == 0, isLast: index == bandCount - 1);
            }

            if (bandCount == 1)
                RunBand(0);
            else
                Parallel.For(0, bandCount, RunBand);
        }

        uint adler = bands[0].Adler;
        for (int i = 1; i < bandCount; i++)
            adler = PngZlib.CombineAdler32(adler, bands[i].Adler, bands[i].FilteredLength);
        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(trailer, adler);
        var last = bands[^1];
        last.Data.Write(trailer);
        bands[^1] = last with { Crc = Crc32.Update(last.Crc, trailer) };

        return [.. bands.Select(b => new PngChunkData(b.Data.GetBuffer(), (int)b.Data.Length, Crc32.Finish(b.Crc)))];
    }

    /// <summary>How many bands the rows split into, and the rows in each (the last band may have fewer):
    /// as many whole bands of <see cref="BandBytes"/> as the filtered image holds, at least one, rows shared evenly.</summary>
    internal static (int BandCount, int RowsPerBand) BandLayout(int stride, int height)
    {
        long filteredBytes = (long)(stride + 1) * height; // each row: the filter-type byte, then the residuals
        int bandCount = (int)Math.Clamp(filteredBytes / BandBytes, 1, height);
        int rowsPerBand = (height + bandCount - 1) / bandCount;
        return ((height + rowsPerBand - 1) / rowsPerBand, rowsPerBand);
    }

    /// <param name="Data">The chunk's data so far.</param>
    /// <param name="Crc">The chunk's running CRC (type and data so far), not yet finished.</param>
    /// <param name="Adler">Adler-32 of the band's filtered bytes alone.</param>
    private readonly record struct Band(MemoryStream Data, uint Crc, uint Adler, int FilteredLength);

    private static Band CompressBand(
        ReadOnlySpan<byte> pixels, int stride, int bytesPerPixel, int firstRow, int rows, CompressionLevel level, bool isFirst, bool isLast)
    {
        int filteredLength = (stride + 1) * rows;
        byte[] filtered = ArrayPool<byte>.Shared.Rent(filteredLength);
        try
        {
            FilterRows(pixels, stride, bytesPerPixel, firstRow, rows, filtered);
            var bandBytes = filtered.AsSpan(0, filteredLength);
            uint adler = PngZlib.Adler32(PngZlib.AdlerInitial, bandBytes);

            var output = new MemoryStream(filteredLength / 2 + 64);
            if (isFirst)
            {
                var (cmf, flg) = PngZlib.Header(level);
                output.WriteByte(cmf);
                output.WriteByte(flg);
            }
            long flushedLength;
            using (var deflate = new DeflateStream(output, level, leaveOpen: true))
            {
                deflate.Write(bandBytes);
                if (!isLast)
                    deflate.Flush();
                flushedLength = output.Length;
            }
            if (!isLast)
            {
                // Disposing ended the stream with a final block, which must not come before the next band.
                RequireSyncFlushMarker(output.GetBuffer().AsSpan(0, (int)flushedLength));
                output.SetLength(flushedLength);
            }
            uint crc = Crc32.Update(Crc32.Update(Crc32.Initial, ChunkType), output.GetBuffer().AsSpan(0, (int)output.Length));
            return new Band(output, crc, adler, filteredLength);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(filtered);
        }
    }

    /// <summary>Writes each row's filter-type byte and residuals, the filter chosen per row by libpng's default
    /// heuristic: the smallest sum of absolute signed residuals, the lowest filter number on a tie.</summary>
    private static void FilterRows(ReadOnlySpan<byte> pixels, int stride, int bytesPerPixel, int firstRow, int rows, Span<byte> filtered)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(3 * stride);
        try
        {
            var best = scratch.AsSpan(0, stride);
            var candidate = scratch.AsSpan(stride, stride);
            var zeroRow = scratch.AsSpan(2 * stride, stride);
            zeroRow.Clear();
            for (int y = firstRow; y < firstRow + rows; y++)
            {
                var row = pixels.Slice(y * stride, stride);
                var above = y == 0 ? zeroRow : pixels.Slice((y - 1) * stride, stride);
                long bestScore = long.MaxValue;
                byte bestFilter = 0;
                for (byte filter = 0; filter < PngFilters.Count; filter++)
                {
                    long score = PngFilters.Apply(filter, row, above, bytesPerPixel, candidate);
                    if (score < bestScore)
                    {
                        (bestScore, bestFilter) = (score, filter);
                        var swap = best;
                        best = candidate;
                        candidate = swap;
                    }
                }
                var destination = filtered.Slice((y - firstRow) * (stride + 1), stride + 1);
                destination[0] = bestFilter;
                best.CopyTo(destination[1..]);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>A sync flush ends with an empty stored block, 00 00 FF FF. Without it (a runtime whose
    /// <see cref="DeflateStream.Flush"/> did something else) the joined stream would be corrupt, so fail loudly.</summary>
    private static void RequireSyncFlushMarker(ReadOnlySpan<byte> deflated)
    {
        if (deflated.Length < 4 || !deflated[^4..].SequenceEqual((ReadOnlySpan<byte>)[0x00, 0x00, 0xFF, 0xFF]))
            throw new InvalidOperationException(
                "DeflateStream.Flush did not end with a sync-flush marker (00 00 FF FF), so PNG bands cannot be joined.");
    }
}
