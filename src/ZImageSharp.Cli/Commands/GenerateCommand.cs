using System.ComponentModel;
using System.Reflection;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Contracts;
using ZImageSharp.Options;

namespace ZImageSharp.Cli.Commands;

internal sealed class GenerateCommand : Command<GenerateCommand.Settings>
{
    internal sealed class Settings : EngineSettings
    {
        [CommandOption("-p|--prompt <TEXT>")]
        [Description("What to draw. Required.")]
        [RequestField("prompt")]
        public string? Prompt { get; init; }

        [CommandOption("-n|--negative-prompt <TEXT>")]
        [Description("What to avoid; used only with guidance above 0. Default: the preset's (empty for turbo and base).")]
        [RequestField("negative_prompt")]
        public string? NegativePrompt { get; init; }

        [CommandOption("-W|--width <PIXELS>")]
        [Description("Width, a multiple of 16 (default 1024, or the --init-image's width).")]
        [RequestField("width")]
        public int? Width { get; init; }

        [CommandOption("-H|--height <PIXELS>")]
        [Description("Height, a multiple of 16 (default 1024, or the --init-image's height).")]
        [RequestField("height")]
        public int? Height { get; init; }

        [CommandOption("-s|--steps <N>")]
        [Description("Denoising steps. Default: the preset's (turbo 8, what Turbo is distilled for; base 50).")]
        [RequestField("steps")]
        public int? Steps { get; init; }

        [CommandOption("--seed <N>")]
        [Description("Seed of the first image, 0 to 9223372036854775807; image i uses seed + i, so with --count N the seed must leave room for N − 1 more. Default: random.")]
        [RequestField("seed")]
        public long? Seed { get; init; }

        [CommandOption("-c|--count <N>")]
        [Description("Number of images (default 1).")]
        [RequestField("count")]
        public int Count { get; init; } = 1;

        [CommandOption("-g|--guidance <SCALE>")]
        [Description("Classifier-free guidance g (A1111's CFG scale 1 + g); above 0 also runs the negative prompt, twice the transformer work. Default: the preset's (turbo 0: guidance is distilled in; base 4).")]
        [RequestField("guidance_scale")]
        public float? Guidance { get; init; }

        [CommandOption("--cfg-normalization <C>")]
        [Description("With guidance: scale a prediction whose norm exceeds C times the positive one's down to it (diffusers' cfg_normalization; 0 off, 1 is its True). Default: the preset's (0).")]
        [RequestField("cfg_normalization")]
        public float? CfgNormalization { get; init; }

        [CommandOption("--cfg-truncation <T>")]
        [Description("With guidance: skip the negative branch on steps whose model time 1 − σ exceeds T (diffusers' cfg_truncation; 1 never). Default: the preset's (1).")]
        [RequestField("cfg_truncation")]
        public float? CfgTruncation { get; init; }

        [CommandOption("--sampler <NAME>")]
        [Description("euler (Z-Image's own, the presets' default), euler_ancestral, res_multistep (ComfyUI's Turbo template), dpmpp_2m or lcm. euler_ancestral and lcm add noise at every step, drawn from the seed.")]
        [RequestField("sampler")]
        public string? Sampler { get; init; }

        [CommandOption("--scheduler <NAME>")]
        [Description("σ schedule: simple (Z-Image's own, the presets' default), beta or karras.")]
        [RequestField("scheduler")]
        public string? Scheduler { get; init; }

        [CommandOption("--shift <SHIFT>")]
        [Description("Flow-matching shift, above 0 and at most 100; larger spends more steps at high noise. Default: the preset's, else the checkpoint's scheduler_config.json (3 for Turbo).")]
        [RequestField("shift")]
        public float? Shift { get; init; }
        [CommandOption("--lora <FILE[:STRENGTH]>")]
        [Description("Apply a LoRA (.safetensors; PEFT, AI-Toolkit, kohya, LoKr, LoHa): a path, or a name in --lora-dir, with an optional strength (default 1), e.g. --lora style.safetensors:0.8. Repeatable.")]
        public string[] Loras { get; init; } = [];

        [CommandOption("--init-image <FILE>")]
        [Description("Image-to-image: start from this PNG (8-bit RGB or RGBA) instead of pure noise; its size is the output's unless --width/--height say the same size.")]
        [RequestField("init_image")]
        public string? InitImage { get; init; }

        [CommandOption("--strength <S>")]
        [Description("With --init-image: how much to change it, above 0 and at most 1 (default 0.6): the last steps × S steps run, from the image noised to that level; 1 ignores the image (except where --mask keeps it).")]
        [RequestField("strength")]
        public float? Strength { get; init; }

        [CommandOption("--mask <FILE>")]
        [Description("Inpainting, with --init-image: a PNG of the same size, white where to repaint, black where to keep the image.")]
        [RequestField("mask")]
        public string? Mask { get; init; }

        [CommandOption("-o|--output <FILE>")]
        [Description("Output PNG (default zimage.png). With --count above 1, files are numbered: name-1.png, name-2.png…")]
        public string Output { get; init; } = "zimage.png";

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Prompt)) return ValidationResult.Error("--prompt is required (what to draw).");
            if (!Output.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                return ValidationResult.Error($"--output must name a .png file (got '{Output}').");
            if (InitImage is null && Mask is not null)
                return ValidationResult.Error("--mask needs --init-image: the mask says which parts of that image to repaint.");
            if (InitImage is null && Strength is not null)
                return ValidationResult.Error("--strength needs --init-image: it says how much of that image to change.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var preset = settings.ResolvePreset();
        var request = Request(settings, preset);
        // Reject bad input, and an output that could not be written, before minutes of model loading.
        if (GenerationRequestValidator.Check(request, RequestLimits.Default) is { Count: > 0 } errors)
            throw new UsageException(string.Join(" ", errors.Select(e => $"{(e.Field.StartsWith("loras", StringComparison.Ordinal) ? "--lora" : OptionFor(e.Field))} {e.Message}")));
        foreach (var lora in request.Loras.Where(l => !Path.IsPathRooted(l.Name)))
            if (settings.LoraDir is null || !(File.Exists(Path.Combine(settings.LoraDir, lora.Name)) || File.Exists(Path.Combine(settings.LoraDir, lora.Name + ".safetensors"))))
                throw new UsageException($"--lora '{lora.Name}' is not a file{(settings.LoraDir is null ? "" : $" nor a LoRA in '{settings.LoraDir}'")}.");
        var outputs = OutputPaths(settings.Output, settings.Count);
        var files = OutputFiles.Default;
        files.CheckWritable(outputs);

        using var engine = EngineFactory.Create(settings, firstRequest: request);
        if (engine.Model.IsDemo)
            AnsiConsole.MarkupLineInterpolated($"[yellow]demo model:[/] {engine.Model.Description}");
        AnsiConsole.MarkupLineInterpolated($"[grey]preset {preset} ({preset.Source})[/]");
        if (request.GuidanceScale <= 0 && settings.NegativePrompt is { Length: > 0 })
            AnsiConsole.MarkupLine("[yellow]note:[/] --negative-prompt does nothing without guidance (--guidance above 0).");
        AnsiConsole.MarkupLineInterpolated($"[grey]device {engine.Device.Description}; plan: {engine.DescribePlan(engine.BuildPlan(request))}[/]");

        GenerationResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                int steps = request.InitImage is null ? request.Steps : ImageEditSchedule.StepsRun(request.Steps, request.Strength);
                var task = ctx.AddTask("encode", maxValue: steps + 2);
                var progress = new SynchronousProgress<GenerationProgress>(p =>
                {
                    task.Description = p.Phase.ToString().ToLowerInvariant();
                    task.Value = p.Phase switch
                    {
                        GenerationPhase.Encode => 0,
                        GenerationPhase.Denoise => 1 + p.Step,
                        GenerationPhase.Decode => steps + 1,
                        _ => steps + 2,
                    };
                });
                result = engine.GenerateAsync(request, progress, cancellationToken).GetAwaiter().GetResult();
                task.Value = task.MaxValue;
            });

        files.WriteAll(outputs, result!.Images.Select(i => i.Png).ToList());
        var table = new Table().AddColumn("file").AddColumn("seed").AddColumn("size");
        for (int i = 0; i < result.Images.Count; i++)
            table.AddRow(Markup.Escape(outputs[i]), result.Images[i].Seed.ToString(), $"{result.Images[i].Width}x{result.Images[i].Height}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[grey]{string.Join(", ", result.Phases.Select(p => $"{p.Phase.ToString().ToLowerInvariant()} {p.Elapsed.TotalMilliseconds:0} ms" + (p.PeakBytes > 0 ? $" (peak {new ByteSize(p.PeakBytes)})" : "")))}; total {result.Total.TotalSeconds:0.00} s{(result.OomRecoveries > 0 ? $"; recovered from {result.OomRecoveries} out-of-memory error(s)" : "")}[/]");
        return 0;
    }

    /// <summary>The command line's request: each option left out takes the preset's value.</summary>
    internal static GenerationRequest Request(Settings settings, GenerationPreset preset)
    {
        var init = ReadImage(settings.InitImage, "--init-image");
        var defaults = preset.NewRequest(settings.Prompt!);
        return defaults with
        {
            NegativePrompt = settings.NegativePrompt ?? defaults.NegativePrompt,
            Width = settings.Width ?? init?.Width ?? defaults.Width,
            Height = settings.Height ?? init?.Height ?? defaults.Height,
            InitImage = init,
            Strength = settings.Strength ?? GenerationRequest.DefaultStrength,
            Mask = ReadImage(settings.Mask, "--mask"),
            Steps = settings.Steps ?? defaults.Steps,
            Seed = settings.Seed,
            Count = settings.Count,
            GuidanceScale = settings.Guidance ?? defaults.GuidanceScale,
            CfgNormalization = settings.CfgNormalization ?? defaults.CfgNormalization,
            CfgTruncation = settings.CfgTruncation ?? defaults.CfgTruncation,
            Sampler = settings.Sampler ?? defaults.Sampler,
            Scheduler = settings.Scheduler ?? defaults.Scheduler,
            Shift = settings.Shift ?? defaults.Shift,
            Loras = settings.Loras.Select(ParseLora).ToList(),
        };
    }

    /// <summary>The PNG an option names, or null without the option; a missing or unreadable file is a usage error.</summary>
    internal static EditImage? ReadImage(string? path, string option)
    {
        if (path is null) return null;
        if (!File.Exists(path)) throw new UsageException($"{option} '{path}' does not exist.");
        try { return EditImage.FromPng(File.ReadAllBytes(path), $"{option} '{path}'"); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        catch (IOException e) { throw new UsageException($"{option} '{path}' cannot be read: {e.Message}"); }
    }

    internal static IReadOnlyList<string> OutputPaths(string output, int count)
    {
        if (count == 1) return [output];
        var stem = Path.Combine(Path.GetDirectoryName(output) ?? "", Path.GetFileNameWithoutExtension(output));
        return Enumerable.Range(1, count).Select(i => $"{stem}-{i}.png").ToList();
    }

    /// <summary><c>FILE[:STRENGTH]</c>: the part after the last ':' is the strength only when it is a number (so
    /// <c>C:\loras\x.safetensors</c> stays a path); an existing file becomes an absolute path, anything else a name in
    /// the LoRA folder.</summary>
    internal static LoraRequest ParseLora(string value)
    {
        string name = value;
        float strength = 1f;
        int colon = value.LastIndexOf(':');
        if (colon > 0 && float.TryParse(value[(colon + 1)..], System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out var parsed))
        {
            name = value[..colon];
            strength = parsed;
        }
        if (name.Length == 0) throw new UsageException($"--lora '{value}' names no file; give FILE or FILE:STRENGTH.");
        return new LoraRequest(File.Exists(name) ? Path.GetFullPath(name) : name, strength);
    }

    /// <summary>The option that sets a request field, so the validator's "width must be …" reads "--width must be …".</summary>
    internal static string OptionFor(string field) =>
        typeof(Settings).GetProperties()
            .FirstOrDefault(p => p.GetCustomAttribute<RequestFieldAttribute>()?.Field == field)
            ?.GetCustomAttribute<CommandOptionAttribute>() is { } option ? "--" + option.LongNames[0] : field;
}

/// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
