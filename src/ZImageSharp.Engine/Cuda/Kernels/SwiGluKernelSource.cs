namespace ZImageSharp.Engine.Cuda.Kernels;

/// <summary>
/// The CUDA C++ of the fused SwiGLU, <c>out = silu(a) · b</c> on bf16. It includes no header (NVRTC from the pip
/// wheel has no toolkit include folder to find <c>cuda_bf16.h</c> in), so bf16 ↔ float is done on the bits.
/// Rounding is the same as torch's two ops, which round silu(a) to bf16 before the product: the kernel is meant to be
/// bit-identical to <c>silu(a).mul(b)</c>, only one pass over memory instead of three.
/// </summary>
internal static class SwiGluKernelSource
{
    public const string Name = "zimage_swiglu.cu";
    public const string VectorEntry = "zimage_swiglu_bf16_x8";
    public const string ScalarEntry = "zimage_swiglu_bf16";

    /// <summary>Elements one thread of the vector kernel handles (16 bytes of bf16).</summary>
    public const int VectorWidth = 8;

    public const string Source = """
        struct alignas(16) zimage_u32x4 { unsigned int x, y, z, w; };

        __device__ __forceinline__ float zimage_bf16_to_float(unsigned int bits)
        {
            return __uint_as_float(bits << 16);
        }

        // Round to nearest even, NaN to the canonical quiet NaN: c10::BFloat16's conversion.
        __device__ __forceinline__ unsigned int zimage_float_to_bf16(float value)
        {
            unsigned int u = __float_as_uint(value);
            if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
            return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        }

        // torch: silu computed in float and rounded to bf16, then the product in float and rounded again.
        __device__ __forceinline__ unsigned int zimage_swiglu(unsigned int a, unsigned int b)
        {
            float x = zimage_bf16_to_float(a);
            float silu = zimage_bf16_to_float(zimage_float_to_bf16(x / (1.0f + expf(-x))));
            return zimage_float_to_bf16(silu * zimage_bf16_to_float(b));
        }

        __device__ __forceinline__ unsigned int zimage_swiglu_pair(unsigned int a, unsigned int b)
        {
            return zimage_swiglu(a & 0xffffu, b & 0xffffu) | (zimage_swiglu(a >> 16, b >> 16) << 16);
        }

        // out may be a (in place): each element is read before it is written, by the same thread.
        extern "C" __global__ void zimage_swiglu_bf16_x8(const zimage_u32x4* a, const zimage_u32x4* b, zimage_u32x4* out, long long chunks)
        {
            long long stride = (long long)gridDim.x * blockDim.x;
            for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < chunks; i += stride)
            {
                zimage_u32x4 va = a[i];
                zimage_u32x4 vb = b[i];
                zimage_u32x4 vo;
                vo.x = zimage_swiglu_pair(va.x, vb.x);
                vo.y = zimage_swiglu_pair(va.y, vb.y);
                vo.z = zimage_swiglu_pair(va.z, vb.z);
                vo.w = zimage_swiglu_pair(va.w, vb.w);
                out[i] = vo;
            }
        }

        // Elements [start, count): the tail after the vector kernel, or all of a tensor not aligned to 16 bytes.
        extern "C" __global__ void zimage_swiglu_bf16(const unsigned short* a, const unsigned short* b, unsigned short* out, long long start, long long count)
        {
            long long stride = (long long)gridDim.x * blockDim.x;
            for (long long i = start + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
                out[i] = (unsigned short)zimage_swiglu(a[i], b[i]);
        }
        """;
}
