using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Hosting;

namespace ZImageSharp.Server.Jobs;

/// <summary>Finished images on disk as <c>images/{job}-{index}.png</c>, each carrying its parameters in an A1111-style
/// "parameters" text chunk (added here when the engine did not). Files are written to a temporary name and renamed,
/// so a crash never leaves half an image, and a job re-run after a crash simply overwrites its own files.</summary>
internal sealed class ImageFiles
{
    public ImageFiles(IOptions<ZImageServerOptions> options)
    {
        Folder = options.Value.ResolvedImagesDirectory;
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }

    public string PathOf(JobImage image) => Path.Combine(Folder, image.FileName);

    public async Task<IReadOnlyList<JobImage>> SaveAsync(JobRecord job, GenerationResult result, string modelName, CancellationToken cancellationToken)
    {
        var saved = new List<JobImage>(result.Images.Count);
        for (int index = 0; index < result.Images.Count; index++)
        {
            var image = result.Images[index];
            byte[] png = image.Png;
            if (PngReader.Read(png).GetText(ImageParameters.InfotextKeyword) is null)
                png = PngEncoder.InsertText(png, ImageParameters.For(job.Request, image.Seed, image.Width, image.Height, modelName).ToPngText());
            var record = new JobImage(index, image.Seed, image.Width, image.Height, $"{job.Id}-{index}.png");
            string path = PathOf(record);
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
            File.Delete(PathOf(image));
    }

    /// <summary>The text A1111 and most image viewers show: prompt, negative prompt, then one line of settings
    /// (Core's <see cref="ImageParameters"/>, the same text the engine writes into its PNGs).</summary>
    public static string Parameters(GenerationRequest request, GeneratedImage image, string modelName) =>
        ImageParameters.For(request, image.Seed, image.Width, image.Height, modelName).ToInfotext();
}
