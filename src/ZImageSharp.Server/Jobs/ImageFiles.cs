using System.Globalization;
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
    public const string ParametersKeyword = "parameters";

    public ImageFiles(IOptions<ZImageServerOptions> options)
    {
        Folder = Path.Combine(options.Value.ResolvedDataDirectory, "images");
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
            if (PngReader.Read(png).GetText(ParametersKeyword) is null)
            {
                // NUL separates a text chunk's fields, so a prompt holding one is stored with U+FFFD in its place.
                string parameters = Parameters(job.Request, image, modelName).Replace('\0', '\uFFFD');
                png = PngEncoder.InsertText(png, [new PngText(ParametersKeyword, parameters)]);
            }
            var record = new JobImage(index, image.Seed, image.Width, image.Height, $"{job.Id}-{index}.png");
            string path = PathOf(record);
            string temporary = path + ".tmp";
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

    /// <summary>The text A1111 and most image viewers show: prompt, negative prompt, then one line of settings.</summary>
    public static string Parameters(GenerationRequest request, GeneratedImage image, string modelName)
    {
        var invariant = CultureInfo.InvariantCulture;
        string negative = string.IsNullOrEmpty(request.NegativePrompt) ? "" : $"\nNegative prompt: {request.NegativePrompt}";
        string shift = request.Shift is { } s ? string.Create(invariant, $", Shift: {s}") : "";
        return string.Create(invariant,
            $"{request.Prompt}{negative}\nSteps: {request.Steps}, Sampler: {request.Sampler}, CFG scale: {request.GuidanceScale}, " +
            $"Seed: {image.Seed}, Size: {image.Width}x{image.Height}{shift}, Model: {modelName}, Version: ZImageSharp");
    }
}
