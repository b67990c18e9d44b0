// Seeded draws of codes, the same as vae_hub/capabilities/portable_sampling.py: the same
// seed gives the same codes in the browser and on the server, to float32 rounding. That
// module's docstring is the definition; this file follows it line by line. No dependencies.
//
//   import { drawCodes } from "./sampling.js";
//   const z = drawCodes(data.mixture, 64, 42, 1.0); // Float32Array of 64 * D, row by row
//
// A mixture is {weights: [C], means: [C][D], scale_tril: [C][D][D]} as the server's JSON
// gives it (portable_sampling.sampling_json); each number is read as its float32 value.

const GOLDEN = 0x9e3779b9;

// Wellons' lowbias32 on an unsigned 32-bit integer.
export function mix(x) {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function checkSeed(seed) {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2**32 - 1], got ${seed}`);
  }
  return seed;
}

// The seed's uniforms u(start), ..., u(start + count - 1) in (0, 1): a Float64Array.
export function uniforms(seed, start, count) {
  checkSeed(seed);
  if (start < 0 || count < 0 || start + count > 2 ** 32) {
    throw new RangeError("the counters must stay within [0, 2**32)");
  }
  const key = mix((seed ^ GOLDEN) >>> 0);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const word = mix((mix((start + i + key) >>> 0) ^ seed) >>> 0);
    out[i] = (word + 0.5) / 2 ** 32;
  }
  return out;
}

// Counters per code: one for the component, two per pair of coordinates.
export function stride(latentDim) {
  return 1 + 2 * Math.ceil(latentDim / 2);
}

// n codes drawn from `mixture` at `temperature` with the stream of `seed`: a Float32Array
// of n * D, code i at [i * D, (i + 1) * D).
export function drawCodes(mixture, n, seed, temperature) {
  if (!Number.isInteger(n) || n < 1 || n > 4096) {
    throw new RangeError(`n must be an integer in [1, 4096], got ${n}`);
  }
  if (typeof temperature !== "number" || !(temperature >= 0 && temperature <= 10)) {
    throw new RangeError(`temperature must be a number in [0, 10], got ${temperature}`);
  }
  const weights = mixture.weights.map(Math.fround);
  const means = mixture.means.map((row) => row.map(Math.fround));
  const tril = mixture.scale_tril.map((m) => m.map((row) => row.map(Math.fround)));
  const dim = means[0].length;
  const width = stride(dim);
  const cumulative = new Float64Array(weights.length);
  let total = 0;
  for (let k = 0; k < weights.length; k++) cumulative[k] = total += weights[k];
  const u = uniforms(seed, 0, n * width);
  const eps = new Float64Array(width - 1);
  const z = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const base = i * width;
    const target = u[base] * total;
    let k = 0;
    while (k < cumulative.length - 1 && !(target < cumulative[k])) k++;
    for (let j = 0; j + 1 < width; j += 2) {
      const r = Math.sqrt(-2 * Math.log(u[base + 1 + j]));
      const theta = 2 * Math.PI * u[base + 2 + j];
      eps[j] = r * Math.cos(theta);
      eps[j + 1] = r * Math.sin(theta);
    }
    for (let d = 0; d < dim; d++) {
      let sum = 0;
      for (let j = 0; j <= d; j++) sum += tril[k][d][j] * eps[j];
      z[i * dim + d] = means[k][d] + temperature * sum;
    }
  }
  return z;
}
