using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Store;

namespace ZImageSharp.Server.Jobs;

/// <summary>Finished images on disk as <c>images/{job}-{index}.png</c>, each carrying its parameters in an A1111-style
/// "parameters" text chunk (added here when the engine did not). Files are written to a temporary name and renamed,
/// so a crash never leaves half an image, and a job re-run after a crash simply overwrites its own files. With
/// <see cref="ZImageServerOptions.S3Bucket"/> the images live in an S3-compatible store (written before the job's row,
/// as files are) and the folder only caches the ones this node serves.</summary>
internal sealed class ImageFiles
{
    private readonly S3ObjectStore? _s3;

    public ImageFiles(IOptions<ZImageServerOptions> options, TimeProvider time)
    {
        var o = options.Value;
        Folder = o.ResolvedImagesDirectory;
        Directory.CreateDirectory(Folder);
        if (!string.IsNullOrWhiteSpace(o.S3Bucket))
            _s3 = S3ObjectStore.For(o, time);
    }

    public string Folder { get; }

    /// <summary>The image's file on this node; from the object store, fetched into the cache folder first when it
    /// is not there (a missing object leaves no file, which the caller reports).</summary>
    public string PathOf(JobImage image)
    {
        string path = Path.Combine(Folder, image.FileName);
        if (_s3 is null || File.Exists(path)) return path;
        // Synchronous: the callers ask for a path. One small PNG, once per node; later reads hit the cache.
        byte[]? png = _s3.GetAsync(image.FileName, CancellationToken.None).GetAwaiter().GetResult();
        if (png is not null) WriteAtomically(path, png);
        return path;
    }

    public async Task<IReadOnlyList<JobImage>> SaveAsync(JobRecord job, GenerationResult result, string modelName, CancellationToken cancellationToken)
    {
        var saved = new List<JobImage>(result.Images.Count);
        for (int index = 0; index < result.Images.Count; index++)
        {
            var image = result.Images[index];
            byte[] png = image.Png;
            if (PngReader.Read(png).GetText(ImageParameters.InfotextKeyword) is null)
                png = PngEncoder.InsertText(png, ImageParameters.For(job.Request, image.Seed, image.Width, image.Height, modelName, result.WeightsPrecision).ToPngText());
            var record = new JobImage(index, image.Seed, image.Width, image.Height, $"{job.Id}-{index}.png");
            if (_s3 is not null)
            {
                await _s3.PutAsync(record.FileName, png, cancellationToken).ConfigureAwait(false);
                saved.Add(record);
                continue;
            }
            string path = Path.Combine(Folder, record.FileName);
            // Unique per writer: on a shared folder a worker whose lease expired may still be writing the same job.
            string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            await File.WriteAllBytesAsync(temporary, png, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
            saved.Add(record);
        }
        return saved;
    }

    public void Delete(JobRecord job)
    {
        foreach (var image in job.Images)
        {
            File.Delete(Path.Combine(Folder, image.FileName));
            _s3?.DeleteAsync(image.FileName, CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The text A1111 and most image viewers show: prompt, negative prompt, then one line of settings
    /// (Core's <see cref="ImageParameters"/>, the same text the engine writes into its PNGs).</summary>
    public static string Parameters(GenerationRequest request, GeneratedImage image, string modelName, string? weights = null) =>
        ImageParameters.For(request, image.Seed, image.Width, image.Height, modelName, weights).ToInfotext();
}
