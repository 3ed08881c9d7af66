// ZImageSharp web page: plain JavaScript against the server's own API (no build step, nothing from a CDN).
"use strict";

const $ = (id) => document.getElementById(id);

const ASPECTS = [
  ["1:1", 1, 1], ["4:3", 4, 3], ["3:4", 3, 4], ["3:2", 3, 2], ["2:3", 2, 3],
  ["16:9", 16, 9], ["9:16", 9, 16], ["21:9", 21, 9],
];

const state = {
  limits: { size_multiple: 16, min_size: 64, max_size: 4096, max_steps: 100, max_count: 8 },
  aspect: "1:1",
  job: null,          // id of the job this page is following
  events: null,       // its EventSource
  nextBefore: null,   // gallery cursor
  key: "",            // the API key, when the server has keys
  locked: true,       // until the server said the page may load (no key needed, or the key is good)
  started: false,
  preset: null,       // the model's request defaults (GET /api/system model.preset), once applied to the form
};

// ---- the API key ---------------------------------------------------------------------------
// A server with keys gets the key as a Bearer header on every fetch. EventSource and <img> cannot send headers, so
// the page also trades the key for the server's read-only session cookie (POST /api/session); changes always go
// through fetch with the header.

const KEY_STORAGE = "zimage.apiKey";

function storedKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch { /* private mode: the key lasts as long as the page */ }
  state.key = key;
}

function askForKey(message) {
  state.locked = true;
  $("key-form").hidden = false;
  $("key-message").textContent = message || "";
  $("key-status").hidden = true;
  $("api-key").focus();
}

// True when the page may load: the server needs no key, or the stored one is good and its cookie is set.
async function openSession() {
  let status;
  try {
    status = await api("/api/session");
  } catch (error) {
    askForKey(error.message);
    return false;
  }
  if (!status.auth_required) {
    state.locked = false;
    return true;
  }
  if (!state.key || !status.access) {
    askForKey(state.key ? "This key was not accepted." : "");
    return false;
  }
  const session = await api("/api/session", { method: "POST" });
  state.locked = false;
  $("key-form").hidden = true;
  $("key-status").hidden = false;
  $("key-status").textContent = session.access === "read" ? "Read-only key · forget" : "Forget key";
  return true;
}

async function forgetKey() {
  storeKey("");
  try { await api("/api/session", { method: "DELETE" }); } catch { /* the cookie dies with the key anyway */ }
  askForKey("");
}

// ---- helpers -------------------------------------------------------------------------------

function gib(bytes) {
  return (bytes / 1073741824).toFixed(bytes >= 10 * 1073741824 ? 1 : 2) + " GiB";
}

function seconds(s) {
  if (s == null) return "";
  return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

function roundTo(value, multiple) {
  return Math.max(multiple, Math.round(value / multiple) * multiple);
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child);
  return node;
}

async function api(path, options) {
  const init = { ...(options || {}) };
  if (state.key) init.headers = { ...(init.headers || {}), authorization: `Bearer ${state.key}` };
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (response.status === 401 && path !== "/api/session") askForKey(problemText(body, response));
  if (!response.ok) {
    const error = new Error(problemText(body, response));
    error.problem = body;
    error.status = response.status;
    throw error;
  }
  return body;
}

// A problem+json body as one readable message: the detail, or each field's errors.
function problemText(problem, response) {
  if (!problem) return `${response.status} ${response.statusText}`;
  if (problem.errors) {
    return Object.entries(problem.errors).map(([field, messages]) => `${field} ${messages.join(" ")}`).join("\n");
  }
  let text = problem.detail || problem.title || `${response.status}`;
  if (response.status === 429 && response.headers.get("retry-after")) {
    text += ` (retry in ${response.headers.get("retry-after")} s)`;
  }
  return text;
}

function showError(message) {
  const box = $("form-error");
  box.textContent = message || "";
  box.hidden = !message;
}

// ---- the form ------------------------------------------------------------------------------

function setupForm() {
  const chips = $("aspects");
  for (const [name] of ASPECTS) {
    const chip = el("button", { type: "button", className: "chip", textContent: name });
    chip.setAttribute("role", "radio");
    chip.setAttribute("aria-checked", String(name === state.aspect));
    chip.dataset.aspect = name;
    chip.addEventListener("click", () => { selectAspect(name); applyPreset(); });
    chips.append(chip);
  }
  $("scale").addEventListener("change", applyPreset);
  for (const id of ["width", "height", "steps", "count"]) $(id).addEventListener("input", schedulePlan);
  for (const id of ["width", "height"]) $(id).addEventListener("input", syncPresetToSize);
  $("seed-random").addEventListener("change", () => {
    $("seed").disabled = $("seed-random").checked;
    if (!$("seed-random").checked && $("seed").value === "") randomSeed();
  });
  $("seed-dice").addEventListener("click", () => { $("seed-random").checked = false; $("seed").disabled = false; randomSeed(); });
  $("compose").addEventListener("submit", (e) => { e.preventDefault(); generate(); });
  $("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) generate(); });
  $("cancel").addEventListener("click", cancel);
  $("guidance-on").addEventListener("change", () => { showGuidance($("guidance-on").checked); schedulePlan(); });
  $("guidance").addEventListener("input", schedulePlan);
  showGuidance(false);
  applyPreset();
}

// ---- guidance (docs/presets.md) ----------------------------------------------------------------
// The guidance scale and the negative prompt do something only with CFG on: shown when the model's preset runs it
// (Z-Image base) or the user turns it on, hidden otherwise (Turbo has guidance distilled in).

function showGuidance(on) {
  $("guidance-on").checked = on;
  $("guidance").hidden = !on;
  $("negative-field").hidden = !on;
  const distilled = state.preset ? state.preset.guidance_distilled : true;
  $("guidance-note").textContent = on
    ? (distilled ? "Runs a negative branch too: twice the work, and this model has guidance distilled in." : "Runs a negative branch too: twice the work.")
    : (distilled ? "Off: this model has guidance distilled in." : "Off: the negative prompt is not used.");
}

// The form starts from the model's preset: its steps, guidance, negative prompt, sampler and schedule. Applied once
// (and again if the server's preset changes), so the two-second refresh never overwrites what the user typed.
function applyModelDefaults(preset) {
  if (!preset || (state.preset && state.preset.name === preset.name && state.preset.source === preset.source)) return;
  state.preset = preset;
  $("steps").value = preset.steps;
  if (preset.guidance_scale > 0) $("guidance").value = preset.guidance_scale;
  $("negative-prompt").value = preset.negative_prompt || "";
  if ([...$("sampler").options].some((o) => o.value === preset.sampler)) $("sampler").value = preset.sampler;
  if ([...$("scheduler").options].some((o) => o.value === preset.scheduler)) $("scheduler").value = preset.scheduler;
  $("shift").placeholder = preset.shift != null ? String(preset.shift) : "model";
  showGuidance(preset.guidance_scale > 0);
  $("guidance-on").title = `Preset ${preset.name} (${preset.source})`;
}

function selectAspect(name) {
  state.aspect = name;
  for (const chip of $("aspects").children) chip.setAttribute("aria-checked", String(chip.dataset.aspect === name));
}

// Width and height for the aspect at about scale² pixels, on the model's size grid. With no aspect chosen (a typed
// custom size), the size menu keeps the typed ratio.
function applyPreset() {
  const preset = ASPECTS.find(([name]) => name === state.aspect);
  const base = Number($("scale").value);
  const m = state.limits.size_multiple;
  const ratio = preset ? Math.sqrt(preset[1] / preset[2]) : Math.sqrt(Number($("width").value) / Number($("height").value) || 1);
  $("width").value = Math.min(state.limits.max_size, roundTo(base * ratio, m));
  $("height").value = Math.min(state.limits.max_size, roundTo(base / ratio, m));
  schedulePlan();
}

// The aspect chips and the size menu follow a typed width and height: the chip whose ratio is within 3% (none for a
// custom ratio) and the size closest to the typed pixel count.
function syncPresetToSize() {
  const w = Number($("width").value), h = Number($("height").value);
  if (!(w > 0 && h > 0)) return;
  const match = ASPECTS.find(([, a, b]) => Math.abs(w / h - a / b) / (a / b) < 0.03);
  selectAspect(match ? match[0] : null);
  const side = Math.sqrt(w * h);
  let closest = null;
  for (const option of $("scale").options)
    if (!closest || Math.abs(Number(option.value) - side) < Math.abs(Number(closest.value) - side)) closest = option;
  if (closest) $("scale").value = closest.value;
}

function randomSeed() {
  $("seed").value = Math.floor(Math.random() * 4294967296);
}

// The model's samplers and schedules (GET /api/system), named as people know them; the choice survives a refill.
const SAMPLER_LABELS = { euler: "Euler", euler_ancestral: "Euler ancestral", res_multistep: "res_multistep", dpmpp_2m: "DPM++ 2M", lcm: "LCM" };
const SCHEDULER_LABELS = { simple: "Simple", beta: "Beta", karras: "Karras" };

function fillSelect(id, names, labels) {
  if (!Array.isArray(names) || !names.length) return;
  const select = $(id);
  const current = select.value;
  select.replaceChildren(...names.map((name) => el("option", { value: name, textContent: labels[name] || name })));
  select.value = names.includes(current) ? current : names[0];
}

function readForm() {
  const guided = $("guidance-on").checked;
  const request = {
    prompt: $("prompt").value,
    // Sent either way: "off" must override a preset that runs CFG.
    guidance_scale: guided ? Number($("guidance").value) : 0,
    negative_prompt: guided ? $("negative-prompt").value : "",
    width: Number($("width").value),
    height: Number($("height").value),
    steps: Number($("steps").value),
    count: Number($("count").value),
    sampler: $("sampler").value,
    scheduler: $("scheduler").value,
  };
  if ($("shift").value !== "") request.shift = Number($("shift").value);
  if (!$("seed-random").checked && $("seed").value !== "") request.seed = Number($("seed").value);
  if ($("lora").value) request.loras = [{ name: $("lora").value, strength: Number($("lora-strength").value) }];
  return request;
}

// The LoRA picker lists the server's LoRA folder (GET /api/loras); hidden when the server has none.
async function loadLoras() {
  try {
    const list = await api("/api/loras");
    const select = $("lora");
    const chosen = select.value;
    select.replaceChildren(new Option("None", ""), ...list.loras.map((name) => new Option(name, name)));
    select.value = list.loras.includes(chosen) ? chosen : "";
    $("lora-row").hidden = !list.available || list.loras.length === 0;
  } catch { $("lora-row").hidden = true; }
}

// "Use these settings again": the form takes a past job's request.
function useSettings(request) {
  $("prompt").value = request.prompt;
  $("negative-prompt").value = request.negative_prompt || "";
  if (request.guidance_scale > 0) $("guidance").value = request.guidance_scale;
  showGuidance(request.guidance_scale > 0);
  $("width").value = request.width;
  $("height").value = request.height;
  $("steps").value = request.steps;
  $("count").value = request.count;
  $("sampler").value = request.sampler || "euler";
  $("scheduler").value = request.scheduler || "simple";
  $("shift").value = request.shift ?? "";
  const lora = (request.loras || [])[0];
  if (lora && [...$("lora").options].some((o) => o.value === lora.name)) { $("lora").value = lora.name; $("lora-strength").value = lora.strength; }
  else $("lora").value = "";
  $("seed-random").checked = request.seed == null;
  $("seed").disabled = request.seed == null;
  $("seed").value = request.seed ?? "";
  syncPresetToSize();
  schedulePlan();
  window.scrollTo({ top: 0, behavior: "smooth" });
  $("prompt").focus();
}

// ---- plan hint -----------------------------------------------------------------------------

let planTimer = 0;
function schedulePlan() {
  clearTimeout(planTimer);
  planTimer = setTimeout(checkPlan, 250);
}

async function checkPlan() {
  if (state.locked) return;
  const hint = $("plan-hint");
  const request = readForm();
  request.prompt = request.prompt || "plan";
  try {
    const plan = await api("/api/plan", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request) });
    hint.replaceChildren();
    if (plan.fits) {
      hint.className = "plan fits";
      hint.textContent = `${request.width}×${request.height} fits · peak ${gib(plan.predicted_peak_bytes)} of ${gib(plan.budget_bytes)}` +
        (plan.predicted_seconds > 0 ? ` · about ${seconds(plan.predicted_seconds)}` : "");
      // The estimate is only as good as its speeds: say whose they are (this card's calibration or the reference).
      hint.title = plan.speed_source ? `Times from the ${plan.speed_source}` : "";
    } else {
      hint.title = "";
      hint.className = "plan nofit";
      const size = plan.largest_fitting_size;
      hint.append(`${request.width}×${request.height} does not fit this card.`);
      if (size) {
        const use = el("button", { type: "button", textContent: `Use ${size.width}×${size.height}` });
        use.addEventListener("click", () => { $("width").value = size.width; $("height").value = size.height; schedulePlan(); });
        hint.append(use);
      }
    }
  } catch (error) {
    hint.className = "plan nofit";
    hint.textContent = error.message;
  }
}

// ---- image-to-image and inpainting (docs/editing.md) -------------------------------------------
// The chosen picture is redrawn at the requested size (the server never resizes) and sent as a PNG; the mask is what
// the user painted, white on black. Only a submit carries them: the plan hint stays a small request.

const edit = { image: null, painted: false };

function setupEdit() {
  const file = $("init-file"), canvas = $("mask-canvas");
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    try {
      const bitmap = await createImageBitmap(file.files[0]);
      edit.image = bitmap;
      // The request takes the image's size, rounded down to the multiple of 16 the model needs.
      const snap = (v) => Math.max(64, Math.min(4096, Math.floor(v / 16) * 16));
      $("width").value = snap(bitmap.width);
      $("height").value = snap(bitmap.height);
      showEdit();
      schedulePlan();
    } catch { showError("That file is not an image this browser can read."); }
  });
  for (const id of ["width", "height"]) $(id).addEventListener("change", () => { if (edit.image) showEdit(); });
  $("init-clear").addEventListener("click", () => { edit.image = null; file.value = ""; showEdit(); });
  $("mask-clear").addEventListener("click", clearMask);
  let drawing = false;
  const paint = (e) => {
    if (!drawing) return;
    const box = canvas.getBoundingClientRect(), ctx = canvas.getContext("2d");
    const x = (e.clientX - box.left) * canvas.width / box.width, y = (e.clientY - box.top) * canvas.height / box.height;
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(x, y, Number($("brush").value) / 2, 0, 2 * Math.PI);
    ctx.fill();
    edit.painted = true;
  };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; canvas.setPointerCapture(e.pointerId); paint(e); });
  canvas.addEventListener("pointermove", paint);
  canvas.addEventListener("pointerup", () => { drawing = false; });
}

function clearMask() {
  const canvas = $("mask-canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  edit.painted = false;
}

// The preview and the mask canvas at the request's size; a new size starts a new mask.
function showEdit() {
  const shown = !!edit.image;
  $("edit-stage").hidden = !shown;
  $("edit-tools").hidden = !shown;
  if (!shown) return;
  const w = Number($("width").value), h = Number($("height").value);
  $("init-preview").src = sizedCanvas(w, h).toDataURL("image/png");
  const canvas = $("mask-canvas");
  canvas.width = w;
  canvas.height = h;
  clearMask();
}

function sizedCanvas(w, h) {
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.getContext("2d").drawImage(edit.image, 0, 0, w, h);
  return canvas;
}

function withEdit(request) {
  if (!edit.image) return request;
  request.init_image = sizedCanvas(request.width, request.height).toDataURL("image/png");
  request.strength = Number($("strength").value);
  if (edit.painted) {
    const mask = document.createElement("canvas");
    mask.width = request.width;
    mask.height = request.height;
    const ctx = mask.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, mask.width, mask.height);
    ctx.drawImage($("mask-canvas"), 0, 0, mask.width, mask.height);
    request.mask = mask.toDataURL("image/png");
  }
  return request;
}

// ---- generating ----------------------------------------------------------------------------

async function generate() {
  if (state.job) return;
  showError("");
  let job;
  try {
    job = await api("/api/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(withEdit(readForm())) });
  } catch (error) {
    showError(error.message);
    return;
  }
  follow(job);
  loadSystem();
}

function follow(job) {
  state.job = job.id;
  $("generate").disabled = true;
  $("generate").textContent = "Generating…";
  $("cancel").hidden = false;
  $("progress").hidden = false;
  $("placeholder").hidden = true;
  $("results").hidden = true;
  $("preview").hidden = true;
  setProgress(0, job.queue_position ? `Queued · position ${job.queue_position}` : "Queued", "");

  const events = new EventSource(`/api/jobs/${job.id}/events`);
  state.events = events;
  events.addEventListener("state", (e) => {
    const status = JSON.parse(e.data);
    if (status.state === "queued") setProgress(0, status.queue_position ? `Queued · position ${status.queue_position}` : "Queued", "");
    if (status.state === "running") setProgress(0.01, "Starting", "");
  });
  events.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    const label = p.phase === "denoise" ? `Step ${p.step} of ${p.total_steps}` : phaseName(p.phase);
    setProgress(p.fraction, label, p.eta_seconds != null ? `${seconds(p.eta_seconds)} left` : "");
    if (p.preview) {
      $("preview").src = p.preview;
      $("preview").hidden = false;
    }
  });
  events.addEventListener("done", (e) => finish(JSON.parse(e.data)));
  events.onerror = () => {
    // The stream broke (server restart, network): ask for the state instead of guessing.
    if (events.readyState === EventSource.CLOSED && state.job === job.id) {
      api(`/api/jobs/${job.id}`).then((status) => { if (status.state !== "queued" && status.state !== "running") finish(status); }).catch(() => {});
    }
  };
}

function phaseName(phase) {
  return { tokenize: "Reading the prompt", encode: "Encoding the prompt", denoise: "Denoising", decode: "Decoding", png: "Saving", done: "Done" }[phase] || phase;
}

function setProgress(fraction, label, eta) {
  $("progress-fill").style.width = `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
  $("progress-step").textContent = label;
  $("progress-eta").textContent = eta;
}

function finish(status) {
  if (state.events) state.events.close();
  state.events = null;
  state.job = null;
  $("generate").disabled = false;
  $("generate").textContent = "Generate";
  $("cancel").hidden = true;
  $("preview").hidden = true;
  if (status.state === "succeeded") {
    setProgress(1, `Done in ${seconds(status.total_seconds)}`, "");
    const results = $("results");
    results.replaceChildren(...status.images.map((image) => {
      const img = el("img", { src: image.url, alt: `Result ${image.index + 1}, seed ${image.seed}` });
      img.addEventListener("click", () => openImage(image.url, status.request, image.seed));
      return img;
    }));
    results.hidden = false;
  } else {
    $("progress").hidden = true;
    $("placeholder").hidden = false;
    if (status.state === "failed") showError(status.error ? status.error.message : "The job failed.");
    if (status.state === "cancelled") showError("Cancelled.");
  }
  loadGallery(true);
  loadSystem();
}

async function cancel() {
  if (!state.job) return;
  try {
    await api(`/api/jobs/${state.job}/cancel`, { method: "POST" });
    $("progress-step").textContent = "Cancelling…";
  } catch (error) {
    showError(error.message);
  }
}

// ---- gallery -------------------------------------------------------------------------------

async function loadGallery(reset) {
  if (reset) state.nextBefore = null;
  const query = new URLSearchParams({ limit: "24" });
  if (state.nextBefore != null) query.set("before", state.nextBefore);
  let page;
  try {
    page = await api(`/api/jobs?${query}`);
  } catch {
    return;
  }
  const gallery = $("gallery");
  const cards = page.jobs.filter((job) => job.state !== "queued" && job.state !== "running").map(card);
  if (reset) gallery.replaceChildren(...cards);
  else gallery.append(...cards);
  if (!gallery.children.length) gallery.append(el("p", { className: "empty", textContent: "Nothing yet: generate something." }));
  state.nextBefore = page.next_before;
  $("more").hidden = page.next_before == null;
}

function card(job) {
  const r = job.request;
  const thumb = el("div", { className: "thumb" });
  if (job.images.length) {
    const first = job.images[0];
    const img = el("img", { src: first.url, alt: r.prompt, loading: "lazy" });
    img.addEventListener("click", () => openImage(first.url, r, first.seed));
    thumb.append(img);
    if (job.images.length > 1) thumb.append(el("span", { className: "badge", textContent: `×${job.images.length}` }));
  } else {
    const text = job.state === "failed" ? (job.error ? job.error.message : "Failed") : job.state;
    thumb.append(el("div", { className: `state ${job.state}`, textContent: text }));
  }
  const seed = job.images.length ? job.images[0].seed : r.seed;
  const meta = `${r.width}×${r.height} · ${r.steps} steps · seed ${seed}` + (r.guidance_scale > 0 ? ` · guidance ${r.guidance_scale}` : "") +
    (r.mask ? " · inpaint" : r.init_image ? " · img2img" : "") + (job.total_seconds ? ` · ${seconds(job.total_seconds)}` : "");
  const again = el("button", { type: "button", textContent: "Use these settings", title: "Fill the form with this job's settings" });
  again.addEventListener("click", () => useSettings({ ...r, seed }));
  const remove = el("button", { type: "button", textContent: "Delete" });
  remove.addEventListener("click", async () => {
    try {
      await api(`/api/jobs/${job.id}`, { method: "DELETE" });
      node.remove();
    } catch (error) {
      showError(error.message);
    }
  });
  const node = el("article", { className: "card" }, thumb,
    el("div", { className: "body" },
      el("div", { className: "prompt", textContent: r.prompt || "(empty prompt)", title: r.prompt }),
      el("div", { className: "meta", textContent: meta }),
      el("div", { className: "tools" }, again, remove)));
  node.dataset.job = job.id;
  return node;
}

function openImage(url, request, seed) {
  $("lightbox-image").src = url;
  $("lightbox-caption").textContent = `${request.prompt}\n${request.width}×${request.height} · ${request.steps} steps · seed ${seed}`;
  $("lightbox").showModal();
}

// ---- system and memory ---------------------------------------------------------------------

async function loadSystem() {
  if (state.locked) return;
  let system;
  try {
    system = await api("/api/system");
  } catch {
    return;
  }
  const model = system.model;
  state.limits = model.limits;
  $("model-name").textContent = model.name;
  $("demo-banner").hidden = !model.is_demo;
  $("demo-text").textContent = model.description;
  $("steps").max = model.limits.max_steps;
  $("count").max = model.limits.max_count;
  fillSelect("sampler", model.limits.samplers, SAMPLER_LABELS);
  fillSelect("scheduler", model.limits.schedulers, SCHEDULER_LABELS);
  applyModelDefaults(model.preset);
  $("queue-status").textContent = `${system.queue.depth} waiting · ${system.queue.running} running`;
  $("device").textContent = system.device;
  $("libtorch").textContent = system.lib_torch;
  $("current-plan").textContent = system.current_plan || "none yet";
  $("speed-profile").textContent = system.speed_profile || "–";

  const gpus = $("gpus");
  if (!system.gpus.length) {
    gpus.replaceChildren(el("p", { className: "vram-text", textContent: "No GPU: running on the CPU." }));
    return;
  }
  gpus.replaceChildren(...system.gpus.map((gpu) => {
    const total = gpu.total_bytes || 1;
    const allocated = gpu.allocated_bytes ?? 0;
    const reserved = Math.max(0, (gpu.reserved_bytes ?? allocated) - allocated);
    const used = Math.max(0, total - gpu.free_bytes);
    const other = gpu.other_processes_bytes ?? Math.max(0, used - allocated - reserved);
    const segment = (className, bytes) => {
      const part = el("div", { className });
      part.style.width = `${(100 * bytes / total).toFixed(2)}%`; // CSSOM, which the page's CSP allows
      return part;
    };
    const bar = el("div", { className: "vram" }, segment("alloc", allocated), segment("reserved", reserved), segment("other", other));
    bar.title = `allocated ${gib(allocated)}, cached ${gib(reserved)}, other processes ${gib(other)}`;
    const legend = el("div", { className: "legend" },
      legendItem("var(--accent)", "allocated"), legendItem("rgba(109,93,252,.45)", "cached"), legendItem("#5b6275", "other"));
    return el("div", { className: "gpu" },
      el("div", { className: "gpu-name", textContent: `GPU ${gpu.index} · ${gpu.name}` }),
      bar,
      el("div", { className: "vram-text", textContent: `${gib(used)} used of ${gib(total)} · ${gib(gpu.free_bytes)} free` }),
      legend);
  }));
}

function legendItem(color, label) {
  const swatch = el("i");
  swatch.style.background = color;
  return el("span", {}, swatch, label);
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  await loadSystem();
  await loadLoras();
  applyPreset();
  loadGallery(true);
  if (!state.started) {
    state.started = true;
    setInterval(loadSystem, 2000);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  state.key = storedKey();
  setupForm();
  setupEdit();
  $("refresh-gallery").addEventListener("click", () => loadGallery(true));
  $("more").addEventListener("click", () => loadGallery(false));
  $("key-status").addEventListener("click", forgetKey);
  $("key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    storeKey($("api-key").value.trim());
    $("api-key").value = "";
    if (await openSession()) start();
  });
  if (await openSession()) start();
});
