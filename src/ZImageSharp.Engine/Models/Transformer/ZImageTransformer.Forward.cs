using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Planning;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py
//            (ZImageTransformer2DModel.forward, patchify_and_embed, unpatchify)

public sealed partial class ZImageTransformer
{
    /// <summary>
    /// One denoiser evaluation for a batch of samples, each with its own latent size and caption length.
    /// </summary>
    /// <param name="latents">Per sample [in_channels, F, H, W] (F = 1 for images; H, W multiples of the patch).</param>
    /// <param name="timesteps">[B] model time t = 1 − σ (0 = pure noise), float32; scaled by t_scale inside.</param>
    /// <param name="captionFeatures">Per sample [L_i, cap_feat_dim] text-encoder features of the real tokens only.</param>
    /// <returns>Per sample the predicted velocity, shaped like its latent, float32 (the final layer is a float32
    /// island). The caller owns them.</returns>
    public override Tensor[] forward(IReadOnlyList<Tensor> latents, Tensor timesteps, IReadOnlyList<Tensor> captionFeatures)
    {
        CheckInputs(latents, timesteps, captionFeatures);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var dtype = DType;
        var device = Device;
        int batch = latents.Count;
        int patch = Config.PatchSize, fPatch = Config.FPatchSize;
        var patchKey = ZImageTransformerConfig.PatchKey(patch, fPatch);

        Tensor adaln;
        TokenGrid[] grids;
        long[] paddedCaptionLengths;
        Tensor[] imageTokens, captionTokens;
        var imageFrequencies = new Tensor[batch];
        var captionFrequencies = new Tensor[batch];
        using (OpScope.Of(_profile, "embed + rope tables"))
        {
            // Float32 conditioning for every block's adaLN and the final layer (KeepsFloat32).
            using (var time = timesteps.to(ScalarType.Float32, device))
            using (var scaledTime = time.mul(Scalars.Of(Config.TScale)))
                adaln = t_embedder.forward(scaledTime);                                                // [B, A] float32

            // Per-sample token sequences (pad-to-32 with learned tokens) and their RoPE frequencies.
            grids = latents.Select(l => new TokenGrid(l, patch, fPatch)).ToArray();
            var captionLengths = captionFeatures.Select(c => c.shape[0]).ToArray();
            paddedCaptionLengths = captionLengths.Select(PadToMultiple).ToArray();
            imageTokens = EmbedImages(latents, grids, patchKey, dtype, device);
            captionTokens = EmbedCaptions(captionFeatures, paddedCaptionLengths, dtype, device);
            for (int i = 0; i < batch; i++)
            {
                // Caption ids are 1..Lp; the image's first axis continues after the *padded* caption.
                captionFrequencies[i] = _rope.CaptionFrequencies(paddedCaptionLengths[i], device);
                imageFrequencies[i] = _rope.ImageFrequencies(paddedCaptionLengths[i] + 1, grids[i].Frames, grids[i].Rows,
                    grids[i].Columns, grids[i].PaddedCount - grids[i].Count, device);
            }
        }
        var imageLengths = grids.Select(g => g.PaddedCount).ToArray();

        // Stage 1 and 2: refine image tokens (modulated) and caption tokens (unmodulated) separately.
        int blockIndex = 0;
        var image = RunBlocks(noise_refiner, ref blockIndex, imageTokens, imageFrequencies, imageLengths, adaln);
        var caption = RunBlocks(context_refiner, ref blockIndex, captionTokens, captionFrequencies, paddedCaptionLengths, null);

        // Stage 3: one stream per sample, image tokens first, through the main layers.
        var unifiedTokens = new Tensor[batch];
        var unifiedFrequencies = new Tensor[batch];
        var unifiedLengths = new long[batch];
        for (int i = 0; i < batch; i++)
        {
            // Views are disposed here so that nothing keeps the refiners' batched outputs alive once they are copied.
            using var imageRow = image[i];
            using var captionRow = caption[i];
            using var imagePart = imageRow.narrow(0, 0, imageLengths[i]);
            using var captionPart = captionRow.narrow(0, 0, paddedCaptionLengths[i]);
            unifiedTokens[i] = cat([imagePart, captionPart], 0);
            unifiedFrequencies[i] = cat([imageFrequencies[i], captionFrequencies[i]], 0);
            unifiedLengths[i] = imageLengths[i] + paddedCaptionLengths[i];
        }
        image.Dispose();
        caption.Dispose();
        foreach (var f in imageFrequencies.Concat(captionFrequencies)) f.Dispose();
        var unified = RunBlocks(layers, ref blockIndex, unifiedTokens, unifiedFrequencies, unifiedLengths, adaln);

        // Stage 4: only image rows reach the output, and the final layer is per token, so caption rows are skipped.
        using var imageRows = unified.narrow(1, 0, imageLengths.Max());
        Tensor patches;
        using (OpScope.Of(_profile, "final layer"))
            patches = all_final_layer[patchKey].forward(imageRows, adaln); // [B, max Np, patch vector]
        var outputs = new Tensor[batch];
        for (int i = 0; i < batch; i++)
            outputs[i] = grids[i].Unpatchify(patches[i].narrow(0, 0, grids[i].Count), Config.OutChannels).MoveToOuterDisposeScope();
        return outputs;
    }

    private static long PadToMultiple(long length) => ImageSequence.PadToSequenceMultiple(checked((int)length));

    /// <summary>Patch embedding of all samples in one matmul, then each sample padded with <c>x_pad_token</c>.</summary>
    private Tensor[] EmbedImages(IReadOnlyList<Tensor> latents, TokenGrid[] grids, string patchKey, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var patches = latents.Select((l, i) => grids[i].Patchify(l.to(dtype, device))).ToArray();
        var embedded = LinearAdapters.Forward(all_x_embedder[patchKey], cat(patches, 0)); // [ΣN, dim]
        var perSample = embedded.split(grids.Select(g => g.Count).ToArray(), 0);
        return perSample.Select((e, i) => AppendPadTokens(e, x_pad_token, grids[i].PaddedCount).MoveToOuterDisposeScope()).ToArray();
    }

    /// <summary>RMSNorm + Linear of all real caption rows in one matmul, then each padded with <c>cap_pad_token</c>.</summary>
    private Tensor[] EmbedCaptions(IReadOnlyList<Tensor> captions, long[] paddedLengths, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        // The norm and the Linear one by one, so a LoRA on cap_embedder.1 sees the Linear's input.
        var normed = ((nn.Module<Tensor, Tensor>)cap_embedder[0]).forward(cat(captions.Select(c => c.to(dtype, device)).ToArray(), 0));
        var embedded = LinearAdapters.Forward((Linear)cap_embedder[1], normed);                  // [ΣL, dim]
        var perSample = embedded.split(captions.Select(c => c.shape[0]).ToArray(), 0);
        return perSample.Select((e, i) => AppendPadTokens(e, cap_pad_token, paddedLengths[i]).MoveToOuterDisposeScope()).ToArray();
    }

    private static Tensor AppendPadTokens(Tensor tokens, Tensor padToken, long paddedLength)
    {
        long missing = paddedLength - tokens.shape[0];
        return missing == 0 ? tokens : cat([tokens, padToken.expand(missing, -1)], 0);
    }

    /// <summary>
    /// Zero-pads the samples into one batch, masks the padded keys (only when lengths differ, as diffusers) and runs
    /// the blocks, calling the block hook around each. The per-sample token tensors are released once batched and each
    /// block's input as soon as it is consumed, so the forward's dispose scope does not accumulate [S, dim] activations.
    /// </summary>
    /// <returns>[B, max length, dim].</returns>
    private Tensor RunBlocks(IEnumerable<ZImageTransformerBlock> blocks, ref int blockIndex, Tensor[] tokens,
        Tensor[] frequencies, long[] lengths, Tensor? adaln)
    {
        long maxLength = lengths.Max();
        var hidden = PadBatch(tokens, maxLength);
        foreach (var t in tokens) t.Dispose(); // a view in hidden (B = 1) keeps its storage alive
        using var batchedFrequencies = PadBatch(frequencies, maxLength);
        using var keyMask = KeyMask(lengths, maxLength, hidden.device);
        foreach (var block in blocks)
        {
            if (BlockHook is { } hook)
                using (OpScope.Of(_profile, "block hook (before)"))
                    hook.BeforeBlock(blockIndex, block);
            var next = block.forward(hidden, keyMask, batchedFrequencies, adaln);
            if (BlockHook is { } after)
                using (OpScope.Of(_profile, "block hook (after)"))
                    after.AfterBlock(blockIndex, block);
            hidden.Dispose();
            hidden = next;
            blockIndex++;
        }
        return hidden;
    }

    /// <summary>[len_i, ...] each → [B, maxLength, ...] with zeros after each sample's rows.</summary>
    private static Tensor PadBatch(Tensor[] items, long maxLength)
    {
        if (items.Length == 1) return items[0].unsqueeze(0);
        if (items.All(t => t.shape[0] == maxLength)) return stack(items, 0);
        var shape = new[] { items.Length, maxLength }.Concat(items[0].shape.Skip(1)).ToArray();
        var batch = zeros(shape, dtype: items[0].dtype, device: items[0].device);
        for (int i = 0; i < items.Length; i++)
        {
            using var row = batch[i];
            using var target = row.narrow(0, 0, items[i].shape[0]);
            target.copy_(items[i]);
        }
        return batch;
    }

    /// <summary>[B, 1, 1, maxLength] bool, true for real (attendable) keys; null when no sample is padded.</summary>
    private static Tensor? KeyMask(long[] lengths, long maxLength, Device device)
    {
        if (lengths.All(l => l == maxLength)) return null;
        // Filled on the device row by row: copying the lengths from host memory would stall on pending GPU work.
        var mask = zeros([lengths.Length, 1, 1, maxLength], dtype: ScalarType.Bool, device: device);
        for (int i = 0; i < lengths.Length; i++)
        {
            using var row = mask[i, 0, 0];
            using var valid = row.narrow(0, 0, lengths[i]);
            valid.fill_(Scalars.True);
        }
        return mask;
    }

    private void CheckInputs(IReadOnlyList<Tensor> latents, Tensor timesteps, IReadOnlyList<Tensor> captionFeatures)
    {
        if (latents.Count == 0) throw new ArgumentException("The batch is empty: pass at least one latent.", nameof(latents));
        if (captionFeatures.Count != latents.Count)
            throw new ArgumentException($"Got {latents.Count} latents but {captionFeatures.Count} caption feature tensors; pass one per sample.", nameof(captionFeatures));
        if (timesteps.dim() != 1 || timesteps.shape[0] != latents.Count)
            throw new ArgumentException($"timesteps must have shape [{latents.Count}] (one per sample), got [{string.Join(", ", timesteps.shape)}].", nameof(timesteps));
        for (int i = 0; i < captionFeatures.Count; i++)
        {
            var c = captionFeatures[i];
            if (c.dim() != 2 || c.shape[1] != Config.CapFeatDim || c.shape[0] == 0)
                throw new ArgumentException(
                    $"Caption features {i} must have shape [L ≥ 1, {Config.CapFeatDim}], got [{string.Join(", ", c.shape)}].", nameof(captionFeatures));
        }
        for (int i = 0; i < latents.Count; i++)
            TokenGrid.Check(latents[i], i, Config.InChannels, Config.PatchSize, Config.FPatchSize);
    }

    /// <summary>How one latent [C, F, H, W] maps to a row-major (f, h, w) grid of patch tokens.</summary>
    private readonly record struct TokenGrid(long Frames, long Rows, long Columns, int Patch, int FPatch)
    {
        public TokenGrid(Tensor latent, int patch, int fPatch)
            : this(latent.shape[1] / fPatch, latent.shape[2] / patch, latent.shape[3] / patch, patch, fPatch) { }

        public long Count => Frames * Rows * Columns;
        public long PaddedCount => PadToMultiple(Count);

        /// <summary>[C, F, H, W] → [N, pF·pH·pW·C]; within a patch vector the channel varies fastest.</summary>
        public Tensor Patchify(Tensor latent)
        {
            long channels = latent.shape[0];
            using var grid = latent.reshape(channels, Frames, FPatch, Rows, Patch, Columns, Patch); // c f pf h ph w pw
            using var ordered = grid.permute(1, 3, 5, 2, 4, 6, 0);                                  // f h w pf ph pw c
            return ordered.reshape(Count, FPatch * Patch * Patch * channels);
        }

        /// <summary>[N, pF·pH·pW·C] → [C, F, H, W], the exact inverse of <see cref="Patchify"/>.</summary>
        public Tensor Unpatchify(Tensor tokens, long channels)
        {
            using var grid = tokens.view(Frames, Rows, Columns, FPatch, Patch, Patch, channels);   // f h w pf ph pw c
            using var ordered = grid.permute(6, 0, 3, 1, 4, 2, 5);                                  // c f pf h ph w pw
            return ordered.reshape(channels, Frames * FPatch, Rows * Patch, Columns * Patch);
        }

        public static void Check(Tensor latent, int index, int channels, int patch, int fPatch)
        {
            var s = latent.shape;
            if (s.Length != 4 || s[0] != channels || s[1] % fPatch != 0 || s[2] % patch != 0 || s[3] % patch != 0
                || s[1] == 0 || s[2] == 0 || s[3] == 0)
                throw new ArgumentException(
                    $"Latent {index} must have shape [{channels}, F, H, W] with F a multiple of {fPatch} and H, W " +
                    $"positive multiples of {patch}, got [{string.Join(", ", s)}].", "latents");
        }
    }
}
