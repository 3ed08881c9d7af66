using ZImageSharp.Engine.Models.Common;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/autoencoders/autoencoder_kl.py (AutoencoderKL.__init__)

/// <summary>
/// The fields of a diffusers <c>vae/config.json</c> for <c>AutoencoderKL</c>. A key absent from the file takes
/// diffusers' default (note: quant convs default to on there); <see cref="Released"/> is Z-Image-Turbo's Flux VAE.
/// </summary>
public sealed record AutoencoderKLConfig
{
    public const string DownBlockType = "DownEncoderBlock2D";
    public const string UpBlockType = "UpDecoderBlock2D";

    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [64];
    public int LayersPerBlock { get; init; } = 1;
    public int LatentChannels { get; init; } = 4;
    public int NormNumGroups { get; init; } = 32;
    public double ScalingFactor { get; init; } = 0.18215;
    /// <summary>diffusers' <c>shift_factor</c>; null in the file means no shift (0).</summary>
    public double ShiftFactor { get; init; }
    public bool UseQuantConv { get; init; } = true;
    public bool UsePostQuantConv { get; init; } = true;
    public bool MidBlockAddAttention { get; init; } = true;
    public bool ForceUpcast { get; init; } = true;

    /// <summary>Z-Image-Turbo's VAE (the Flux autoencoder, spec §3.1).</summary>
    public static AutoencoderKLConfig Released { get; } = new()
    {
        InChannels = 3,
        OutChannels = 3,
        BlockOutChannels = [128, 256, 512, 512],
        LayersPerBlock = 2,
        LatentChannels = 16,
        NormNumGroups = 32,
        ScalingFactor = 0.3611,
        ShiftFactor = 0.1159,
        UseQuantConv = false,
        UsePostQuantConv = false,
        MidBlockAddAttention = true,
        ForceUpcast = true,
    };

    /// <summary>Image pixels per latent cell along each axis: 2^(blocks − 1) (8 for the released VAE).</summary>
    public int SpatialScaleFactor => 1 << (BlockOutChannels.Count - 1);

    /// <summary>Reads a diffusers <c>config.json</c> (or a fixture's {"config": {...}} wrapper).</summary>
    /// <param name="json">The file's text.</param>
    /// <param name="origin">The file's path, for error messages.</param>
    public static AutoencoderKLConfig FromJson(string json, string origin = "vae/config.json") =>
        JsonConfigReader.Parse(json, origin, Read);

    public static AutoencoderKLConfig FromFile(string path) => FromJson(File.ReadAllText(path), path);

    private static AutoencoderKLConfig Read(JsonConfigReader r)
    {
        var d = new AutoencoderKLConfig();
        var config = new AutoencoderKLConfig
        {
            InChannels = r.Int("in_channels", d.InChannels),
            OutChannels = r.Int("out_channels", d.OutChannels),
            BlockOutChannels = r.IntArray("block_out_channels", d.BlockOutChannels),
            LayersPerBlock = r.Int("layers_per_block", d.LayersPerBlock),
            LatentChannels = r.Int("latent_channels", d.LatentChannels),
            NormNumGroups = r.Int("norm_num_groups", d.NormNumGroups),
            ScalingFactor = r.Double("scaling_factor", d.ScalingFactor),
            ShiftFactor = r.Double("shift_factor", d.ShiftFactor),
            UseQuantConv = r.Bool("use_quant_conv", d.UseQuantConv),
            UsePostQuantConv = r.Bool("use_post_quant_conv", d.UsePostQuantConv),
            MidBlockAddAttention = r.Bool("mid_block_add_attention", d.MidBlockAddAttention),
            ForceUpcast = r.Bool("force_upcast", d.ForceUpcast),
        };
        int blocks = config.BlockOutChannels.Count;
        CheckBlockTypes(r, "down_block_types", DownBlockType, blocks);
        CheckBlockTypes(r, "up_block_types", UpBlockType, blocks);
        string act = r.String("act_fn", "silu");
        if (act != "silu") throw r.Unsupported("act_fn", $"is '{act}'; only 'silu' is supported.");
        if (blocks == 0) throw r.Unsupported("block_out_channels", "is empty; at least one block is needed.");
        foreach (int channels in config.BlockOutChannels)
            if (channels <= 0 || channels % config.NormNumGroups != 0)
                throw r.Unsupported("block_out_channels",
                    $"has {channels}, which must be a positive multiple of norm_num_groups ({config.NormNumGroups}).");
        if (config.LayersPerBlock <= 0) throw r.Unsupported("layers_per_block", $"is {config.LayersPerBlock}; it must be positive.");
        if (config.LatentChannels <= 0) throw r.Unsupported("latent_channels", $"is {config.LatentChannels}; it must be positive.");
        if (config.ScalingFactor == 0) throw r.Unsupported("scaling_factor", "is 0; latents are divided by it.");
        return config;
    }

    private static void CheckBlockTypes(JsonConfigReader r, string key, string expected, int blocks)
    {
        if (!r.Has(key)) return;
        var types = r.StringArray(key, []);
        if (types.Count != blocks || types.Any(t => t != expected))
            throw r.Unsupported(key, $"is [{string.Join(", ", types)}]; {blocks} × '{expected}' (one per block_out_channels entry) is supported.");
    }
}
