// The page's browser side: decode latent codes with ONNX Runtime Web (WASM, one thread) and
// draw the pictures in place, so moving over the Explore map or a slider needs no request.
//
// The page's events ask `window.vaeHub.handles(name, values)` first; it answers true when it
// has drawn the result here, and the event then stops before its server request. Until the
// runtime and the decoder are loaded, or if they cannot be, it answers false and every event
// goes to the server as before. Nothing here is needed for the page to work.

const DIGIT_SCALE = 8; // a single digit, as the server draws it (figures.DIGIT_SCALE)
const SHOW_SCALE = 2; // grids (figures.SHOW_SCALE)
const PAD = 2; // torchvision's make_grid padding, in 28 px units, pad value 0.5
const RETRIES = 30; // parts still being prepared by the server: try again every 2 s

const state = { ready: false, handlers: {} };
window.vaeHub = {
  handles(name, values) {
    const handler = state.ready && state.handlers[name];
    if (!handler) return false;
    try {
      return handler(values) !== false;
    } catch (error) {
      console.warn("vae-hub: drawn by the server instead:", error);
      return false;
    }
  },
  get ready() {
    return state.ready;
  },
  stats: { decodes: 0, decodeMs: [], updateMs: [] }, // read by the benchmark
};

async function fetchWhenReady(url) {
  for (let i = 0; i < RETRIES; i++) {
    const response = await fetch(url);
    if (response.ok) return response;
    if (response.status !== 404) throw new Error(`${url}: HTTP ${response.status}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  throw new Error(`${url} is not available`);
}

export async function start(base) {
  const data = await (await fetch(base + "page.json")).json();
  const runtime = base + data.runtime;
  const ort = await import(runtime + "ort.wasm.min.mjs");
  ort.env.wasm.wasmPaths = runtime;
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which Spaces do not send
  ort.env.wasm.proxy = false;
  const model = new Uint8Array(await (await fetchWhenReady(base + "decoder.onnx")).arrayBuffer());
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const decoder = new Decoder(ort, session, data.latent_dim);
  await decoder.decode(new Float32Array(data.latent_dim), 1); // compile before the first move
  const sampling = data.sampling ? await import(base + "sampling.js") : null;
  // the plain map, held in the page: showing it again costs no request
  const plainMap = URL.createObjectURL(await (await fetch(base + "map.png")).blob());
  installExplore(decoder, data, new Star(plainMap));
  if (sampling) installSampling(decoder, data, sampling);
  installInterpolate(decoder, data);
  state.ready = true;
  document.documentElement.dataset.vaeHubDecoder = "browser";
}

// --- decoding ---------------------------------------------------------------------------

class Decoder {
  constructor(ort, session, dim) {
    this.ort = ort;
    this.session = session;
    this.dim = dim;
    this.busy = Promise.resolve();
  }

  // codes (n * dim) -> pixels (n * 784) in [0, 1]; one run at a time on the session
  decode(codes, n) {
    const run = this.busy.then(async () => {
      const t0 = performance.now();
      const z = new this.ort.Tensor("float32", codes, [n, this.dim]);
      const out = await this.session.run({ z });
      window.vaeHub.stats.decodes += 1;
      window.vaeHub.stats.decodeMs.push(performance.now() - t0);
      return out.pixels.data;
    });
    this.busy = run.catch(() => {});
    return run;
  }
}

// Draws what `draw()` makes, the newest request only: while one drawing is on its way,
// further requests replace each other, so a fast pointer never builds a backlog.
class LatestOnly {
  constructor(draw) {
    this.draw = draw;
    this.pending = null;
    this.running = false;
  }

  request(args) {
    this.pending = args;
    if (!this.running) this.run();
  }

  async run() {
    this.running = true;
    while (this.pending !== null) {
      const args = this.pending;
      this.pending = null;
      const t0 = performance.now();
      try {
        await this.draw(args);
        window.vaeHub.stats.updateMs.push(performance.now() - t0);
      } catch (error) {
        console.warn("vae-hub:", error);
      }
    }
    this.running = false;
  }
}

// --- pictures ---------------------------------------------------------------------------

// pixels of n digits -> a grey canvas laid out as the server's grids (make_grid: one digit
// alone is unpadded; several are in rows of `nrow` with 2 px of grey between them)
function gridCanvas(pixels, n, nrow, scale) {
  const cols = Math.min(nrow, n);
  const rows = Math.ceil(n / cols);
  const pad = n === 1 ? 0 : PAD;
  const width = cols * (28 + pad) + pad;
  const height = rows * (28 + pad) + pad;
  const small = new ImageData(width, height);
  small.data.fill(255);
  for (let i = 0; i < width * height; i++) small.data[4 * i] = 128;
  for (let k = 0; k < n; k++) {
    const x0 = (k % cols) * (28 + pad) + pad;
    const y0 = Math.floor(k / cols) * (28 + pad) + pad;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const p = pixels[k * 784 + y * 28 + x];
        small.data[4 * ((y0 + y) * width + x0 + x)] = Math.round(Math.min(Math.max(p, 0), 1) * 255);
      }
    }
  }
  for (let i = 0; i < width * height; i++) {
    small.data[4 * i + 1] = small.data[4 * i + 2] = small.data[4 * i];
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(small, 0, 0);
  if (scale === 1) return canvas;
  const big = document.createElement("canvas");
  big.width = width * scale;
  big.height = height * scale;
  const context = big.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(canvas, 0, 0, big.width, big.height);
  return big;
}

function show(elemId, canvas) {
  const image = document.querySelector(`#${elemId} img`);
  if (!image) return false;
  image.src = canvas.toDataURL("image/png");
  return true;
}

// --- the latent map ---------------------------------------------------------------------

class LatentMap {
  constructor(map) {
    [this.left, this.top, this.side, this.xMin, this.yMin, this.span] = map.frame;
    this.xy = Float32Array.from(map.xy);
    this.mu = Float32Array.from(map.mu);
    this.count = this.xy.length / 2;
    this.dim = this.mu.length / this.count;
  }

  toData(px, py) {
    return [
      this.xMin + ((px - this.left) / this.side) * this.span,
      this.yMin + (1 - (py - this.top) / this.side) * this.span,
    ];
  }

  toPixel(x, y) {
    return [
      this.left + ((x - this.xMin) / this.span) * this.side,
      this.top + (1 - (y - this.yMin) / this.span) * this.side,
    ];
  }

  contains(px, py) {
    return (
      px >= this.left && px <= this.left + this.side && py >= this.top && py <= this.top + this.side
    );
  }

  // indices of the k smallest of `distances`
  static nearest(distances, k) {
    const order = Array.from(distances.keys());
    order.sort((a, b) => distances[a] - distances[b]);
    return order.slice(0, Math.min(k, order.length));
  }

  // The latent under a map position: inverse-distance weighting of the latent means of its
  // 8 nearest points (LatentMap.latent_at).
  latentAt(x, y) {
    const distances = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) {
      distances[i] = Math.hypot(this.xy[2 * i] - x, this.xy[2 * i + 1] - y);
    }
    const near = LatentMap.nearest(distances, 8);
    const z = new Float64Array(this.dim);
    let total = 0;
    for (const i of near) {
      const w = 1 / Math.max(distances[i], 1e-6) ** 2;
      total += w;
      for (let d = 0; d < this.dim; d++) z[d] += w * this.mu[i * this.dim + d];
    }
    return z.map((v) => v / total);
  }

  // Where a latent lands: the mean position of its 10 nearest points in latent space
  // (LatentMap.place).
  place(z) {
    const distances = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) {
      let s = 0;
      for (let d = 0; d < this.dim; d++) s += (this.mu[i * this.dim + d] - z[d]) ** 2;
      distances[i] = s;
    }
    const near = LatentMap.nearest(distances, 10);
    let x = 0;
    let y = 0;
    for (const i of near) {
      x += this.xy[2 * i];
      y += this.xy[2 * i + 1];
    }
    return [x / near.length, y / near.length];
  }
}

// A star over the map picture at its pixel (x, y), as plots.mark draws it into the picture
// on the server: here an element laid over the picture, so moving it redraws nothing else.
// The picture under it is the plain map; a picture the server sends (with its own star)
// hides it until the browser draws again.
class Star {
  constructor(plainMapUrl) {
    this.plain = plainMapUrl;
    this.element = document.createElement("div");
    this.element.className = "vae-hub-star";
    this.element.innerHTML =
      '<svg viewBox="-1.2 -1.2 2.4 2.4" width="100%" height="100%"><polygon fill="black" ' +
      'stroke="white" stroke-width="0.18" points="' +
      Array.from({ length: 10 }, (_, i) => {
        const r = i % 2 === 0 ? 1 : 1 / 2.4;
        return `${(r * Math.sin((i * Math.PI) / 5)).toFixed(3)},${(-r * Math.cos((i * Math.PI) / 5)).toFixed(3)}`;
      }).join(" ") +
      '"/></svg><span></span>';
    this.image = null;
  }

  // shows the star at picture pixel (x, y) of the map image, with `label`
  place(x, y, label) {
    const image = document.querySelector("#explore-map img");
    if (!image) return;
    if (image !== this.image) {
      this.image = image;
      new MutationObserver(() => {
        if (!image.src.startsWith(this.plain)) this.element.style.display = "none";
      }).observe(image, { attributes: true, attributeFilter: ["src"] });
    }
    if (image.getAttribute("src") !== this.plain) image.src = this.plain;
    const parent = image.parentElement;
    if (getComputedStyle(parent).position === "static") parent.style.position = "relative";
    if (this.element.parentElement !== parent) parent.appendChild(this.element);
    const scale = image.clientWidth / image.naturalWidth;
    const size = Math.max(8, image.naturalHeight / 40) * 2 * scale;
    Object.assign(this.element.style, {
      display: "block",
      position: "absolute",
      pointerEvents: "none",
      left: `${image.offsetLeft + x * scale - size / 2}px`,
      top: `${image.offsetTop + y * (image.clientHeight / image.naturalHeight) - size / 2}px`,
      width: `${size}px`,
      height: `${size}px`,
    });
    const text = this.element.querySelector("span");
    text.textContent = label;
    Object.assign(text.style, {
      position: "absolute",
      left: `${size + 2}px`,
      top: "0",
      background: "white",
      color: "black",
      padding: "0 3px",
      whiteSpace: "nowrap",
      fontSize: `${Math.max(10, size * 0.6)}px`,
    });
  }
}

// --- Explore ----------------------------------------------------------------------------

function installExplore(decoder, data, star) {
  const map = new LatentMap(data.map);
  const explore = data.explore;
  const dim = data.latent_dim;

  // the code the controls point at, moved by `offsets` along the main directions
  function pointAt(digit, x, y, offsets) {
    let base;
    if (x === null || x === undefined || y === null || y === undefined) {
      if (!explore.centres) return null;
      base = Float64Array.from(explore.centres[Number(digit)]);
    } else {
      base = map.latentAt(Number(x), Number(y));
    }
    offsets.forEach((o, i) => {
      const step = Math.min(Math.max(Number(o) || 0, -explore.range), explore.range);
      for (let d = 0; d < dim; d++) {
        base[d] += step * explore.spreads[i] * explore.directions[i * dim + d];
      }
    });
    return base;
  }

  // A hover only previews: when the pointer leaves the map, the picture of the point the
  // controls hold comes back (after a click, the clicked point's, drawn here at once; the
  // server's answer to the click is the same picture).
  const hover = { active: false, restore: null };
  const digit = new LatestOnly(async ({ z, star: where = null, preview = false, keep = false }) => {
    const pixels = await decoder.decode(Float32Array.from(z), 1);
    if (preview && !hover.active) return; // the pointer left while this was decoding
    show("explore-digit", gridCanvas(pixels, 1, 1, DIGIT_SCALE));
    if (where) star.place(...where);
    if (keep) hover.restore = document.querySelector("#explore-digit img")?.src ?? null;
  });

  state.handlers.explore = ([start, x, y, ...offsets]) => {
    const z = pointAt(start, x, y, offsets);
    if (z === null) return false;
    const moved = offsets.some((o) => Number(o) !== 0);
    const clicked = x !== null && x !== undefined;
    const label = moved ? "here" : clicked ? "you are here" : `centre of ${start}`;
    digit.request({ z, star: [...map.toPixel(...map.place(z)), label], keep: true });
    return true;
  };

  // the direction sliders as they stand now
  function currentOffsets() {
    return explore.spreads.map((_, i) => {
      const input = document.querySelector(`#explore-direction-${i + 1} input[type=range]`);
      return input ? Number(input.value) : 0;
    });
  }

  // the map position under the pointer, or null outside the map's plotting box
  function underPointer(event) {
    const image = event.target;
    const box = image.getBoundingClientRect();
    const px = ((event.clientX - box.left) * image.naturalWidth) / box.width;
    const py = ((event.clientY - box.top) * image.naturalHeight) / box.height;
    return map.contains(px, py) ? map.toData(px, py) : null;
  }

  function pointerOnMap(event) {
    const at = underPointer(event);
    if (at === null) return;
    if (!hover.active) {
      hover.active = true;
      hover.restore = document.querySelector("#explore-digit img")?.src ?? null;
    }
    digit.request({ z: pointAt(null, ...at, currentOffsets()), preview: true });
  }

  function pointerOffMap() {
    if (!hover.active) return;
    hover.active = false;
    const image = document.querySelector("#explore-digit img");
    if (image && hover.restore) image.src = hover.restore;
    hover.restore = null;
  }

  const onMap = (event) => state.ready && event.target.closest?.("#explore-map img");
  document.addEventListener("pointermove", (event) => onMap(event) && pointerOnMap(event));
  document.addEventListener("pointerout", (event) => onMap(event) && pointerOffMap());
  document.addEventListener("pointerdown", (event) => {
    const at = onMap(event) && underPointer(event);
    if (!at) return; // a click sets the point (the server also answers it, for its state)
    const zeros = explore.spreads.map(() => 0);
    digit.request({ z: pointAt(null, ...at, zeros), keep: true });
  });
}

// --- Sample and Digit -------------------------------------------------------------------

function installSampling(decoder, data, sampling) {
  // the controls as the server reads them (params.int_in / float_in): clamped, rounded
  const clamp = (v, low, high) => Math.min(Math.max(v, low), high);
  function controls(grid, seed, temperature) {
    const numbers = [Number(grid), Number(seed), Number(temperature)];
    if (seed === null || seed === "" || !numbers.every(Number.isFinite)) return null;
    return {
      n: Math.round(clamp(numbers[0], 1, 16)),
      seed: Math.round(clamp(numbers[1], 0, 2 ** 31 - 1)),
      temperature: clamp(numbers[2], 0, 2),
    };
  }

  function drawGrid(elemId, mixture, { n, seed, temperature }) {
    const codes = sampling.drawCodes(mixture, n * n, seed, temperature);
    return decoder.decode(codes, n * n).then((pixels) => {
      show(elemId, gridCanvas(pixels, n * n, n, SHOW_SCALE));
    });
  }

  const samples = new LatestOnly((args) => drawGrid("sample-picture", ...args));
  state.handlers.sample = ([grid, seed, temperature]) => {
    const c = controls(grid, seed, temperature);
    if (c === null) return false;
    samples.request([data.sampling.mixture, c]);
    return true;
  };

  const digits = new LatestOnly((args) => drawGrid("digit-picture", ...args));
  state.handlers.digit = ([digit, grid, seed, temperature]) => {
    const mixture = data.sampling.digits?.[Number(digit)];
    const c = controls(grid, seed, temperature);
    if (!mixture || c === null) return false;
    digits.request([mixture, c]);
    return true;
  };
}

// --- Interpolate ------------------------------------------------------------------------

// The path between two codes at position t in [0, 1] (generation.latents_along): linear, or
// along the great circle ("slerp"), which falls back to linear for (anti)parallel codes.
function along(a, b, t, method) {
  if (method === "slerp") {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let d = 0; d < a.length; d++) {
      dot += a[d] * b[d];
      na += a[d] * a[d];
      nb += b[d] * b[d];
    }
    const cos = dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), 1e-12);
    const omega = Math.acos(Math.min(Math.max(cos, -1), 1));
    if (Math.sin(omega) > 1e-6) {
      const s = Math.sin(omega);
      const wa = Math.sin((1 - t) * omega) / s;
      const wb = Math.sin(t * omega) / s;
      return a.map((v, d) => wa * v + wb * b[d]);
    }
  }
  return a.map((v, d) => (1 - t) * v + t * b[d]);
}

function installInterpolate(decoder, data) {
  const examples = data.interpolate.examples; // digit-major: example i of digit d at d * 10 + i
  const perDigit = examples.length / 10;
  const clamp = (v, low, high) => Math.min(Math.max(v, low), high);
  // an end's code: the chosen test example's; null for a drawing (only the server encodes)
  function end(digit, index, sketch) {
    if (sketch && sketch.composite) return null;
    const d = Math.round(clamp(Number(digit), 0, 9));
    const i = Math.round(clamp(Number(index), 0, perDigit - 1));
    if (!Number.isFinite(d) || !Number.isFinite(i)) return null;
    return examples[d * perDigit + i];
  }

  const frame = new LatestOnly(async (z) => {
    const pixels = await decoder.decode(Float32Array.from(z), 1);
    show("interpolate-frame", gridCanvas(pixels, 1, 1, DIGIT_SCALE));
  });
  state.handlers.interpolate_at = ([ad, ai, as, bd, bi, bs, position, method]) => {
    const a = end(ad, ai, as);
    const b = end(bd, bi, bs);
    const t = Number(position);
    if (a === null || b === null || !Number.isFinite(t) || !["linear", "slerp"].includes(method)) {
      return false;
    }
    frame.request(along(a, b, clamp(t, 0, 1), method));
    return true;
  };
}
