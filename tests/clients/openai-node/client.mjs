// The OpenAI Node SDK, unmodified, against a ZImageSharp server: what a user who points `baseURL` at the server gets.
// Prints one JSON object on stdout; the server test (OpenAiNodeSdkTests) asserts on it. Every call is caught and
// recorded, so one wrong answer shows in the JSON beside the others instead of ending the run.
//
//   node client.mjs BASE_URL [--edit] [--stream-error]
//        (API key from ZIMAGE_API_KEY, else OPENAI_API_KEY; base URL also ZIMAGE_BASE_URL)
//
// --edit (or ZIMAGE_CLIENT_EDIT=1) also calls images.edit with the generated PNG, plain and streamed.
// --stream-error runs only one streamed images.generate whose job the server fails after its first step (the
// prompt "fail mid-stream"; the test's fake engine fails it): what the SDK raises for the stream's error event.
import OpenAI, { APIError, toFile } from "openai";
import { VERSION } from "openai/version";
import { createHash } from "node:crypto";

const args = process.argv.slice(2);
const base = (args.find((a) => !a.startsWith("--")) ?? process.env.ZIMAGE_BASE_URL ?? "").replace(/\/+$/, "");
if (!base) {
  console.error("usage: node client.mjs BASE_URL [--edit]  (or set ZIMAGE_BASE_URL)");
  process.exit(2);
}
const apiKey = process.env.ZIMAGE_API_KEY ?? process.env.OPENAI_API_KEY ?? "no-key";
const withEdit = args.includes("--edit") || process.env.ZIMAGE_CLIENT_EDIT === "1";
const streamErrorOnly = args.includes("--stream-error");
const size = process.env.ZIMAGE_CLIENT_SIZE ?? "128x96";
// The SDK retries a 429/5xx twice by default; a test wants the first answer.
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });

/** Width and height from a PNG's IHDR, or null when the bytes are not a PNG. */
function pngSize(bytes) {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || signature.some((b, i) => bytes[i] !== b) || bytes.toString("latin1", 12, 16) !== "IHDR") return null;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

function describeError(error) {
  if (error instanceof APIError) {
    return {
      api_error: true,
      class: error.constructor.name,
      status: error.status ?? null,
      message: error.message,
      type: error.type ?? null,
      param: error.param ?? null,
      code: error.code ?? null,
    };
  }
  return { api_error: false, class: error?.constructor?.name ?? typeof error, message: String(error?.message ?? error) };
}

async function attempt(work) {
  try {
    return { ok: true, ...(await work()) };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

function describeImages(response) {
  return {
    created: response.created ?? null,
    images: (response.data ?? []).map((item) => {
      const bytes = item.b64_json ? Buffer.from(item.b64_json, "base64") : Buffer.alloc(0);
      return { bytes: bytes.length, png: pngSize(bytes), url: item.url ?? null, revised_prompt: item.revised_prompt ?? null };
    }),
  };
}

/** A stream event as the test reads it: its fields, the PNG's size and hash instead of its bytes. */
function describeEvent(event) {
  const { b64_json, ...fields } = event;
  const bytes = b64_json ? Buffer.from(b64_json, "base64") : Buffer.alloc(0);
  return { ...fields, bytes: bytes.length, png: pngSize(bytes), sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Iterates a Stream of image events to its end; an error raised mid-stream is recorded after the events before it. */
async function collect(stream) {
  const events = [];
  try {
    for await (const event of stream) events.push(describeEvent(event));
  } catch (error) {
    return { events, error: describeError(error) };
  }
  return { events, error: null };
}

const result = { sdk: { name: "openai", version: VERSION }, node: process.version, base_url: client.baseURL };

/** What a user of the SDK does: list models, generate (plain and streamed), edit, and get OpenAI's errors. */
async function everyCase() {
  result.models = await attempt(async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push({ id: model.id, object: model.object, owned_by: model.owned_by });
    return { models: ids };
  });

  let firstPng = null;
  result.generate = await attempt(async () => {
    const model = result.models.ok && result.models.models.length > 0 ? result.models.models[0].id : undefined;
    // steps and seed are the server's extensions; the SDK sends unknown body fields as they are.
    const response = await client.images.generate({
      model, prompt: "a small lighthouse, node sdk", n: 1, size, response_format: "b64_json", steps: 2, seed: 7,
    });
    if (response.data?.[0]?.b64_json) firstPng = Buffer.from(response.data[0].b64_json, "base64");
    return describeImages(response);
  });

  // A size off the 16-pixel grid: the server must answer 400 with OpenAI's error object naming the field.
  result.invalid = await attempt(async () => {
    const response = await client.images.generate({ prompt: "a wrong size", size: "100x70", response_format: "b64_json" });
    return { unexpected: describeImages(response) };
  });

  // stream: true is typed by the SDK as a Stream of ImageGenStreamEvent: two partial images, then the completed one.
  result.generate_stream = await attempt(async () =>
    collect(await client.images.generate({
      prompt: "a small lighthouse, streamed", n: 1, size, stream: true, partial_images: 2, quality: "low", steps: 4, seed: 7,
    })));

  // partial_images is 0 to 3: a 400 before any stream starts, naming the field.
  result.stream_invalid = await attempt(async () => {
    const stream = await client.images.generate({ prompt: "too many partials", size, stream: true, partial_images: 4 });
    return { unexpected: await collect(stream) };
  });

  result.wrong_key = await attempt(async () => {
    const other = new OpenAI({ baseURL: `${base}/v1`, apiKey: "not-the-key-0123456789abcdef", maxRetries: 0 });
    const page = await other.models.list();
    return { unexpected: page.data.length };
  });

  if (withEdit) {
    result.edit = await attempt(async () => {
      if (!firstPng) throw new Error("images.generate gave no PNG to edit");
      const response = await client.images.edit({
        image: await toFile(firstPng, "start.png", { type: "image/png" }),
        prompt: "the same lighthouse at night", n: 1, size, response_format: "b64_json",
      });
      return describeImages(response);
    });
    result.edit_stream = await attempt(async () => {
      if (!firstPng) throw new Error("images.generate gave no PNG to edit");
      return collect(await client.images.edit({
        image: await toFile(firstPng, "start.png", { type: "image/png" }),
        prompt: "the same lighthouse at dawn", size, stream: true, partial_images: 1, steps: 2,
      }));
    });
  }
}

if (streamErrorOnly) {
  result.stream_error = await attempt(async () =>
    collect(await client.images.generate({ prompt: "fail mid-stream", size, stream: true, partial_images: 3, steps: 3 })));
} else {
  await everyCase();
}

process.stdout.write(JSON.stringify(result) + "\n");
