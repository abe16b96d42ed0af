// face-api itself in Node, for the reference scripts beside this file (descriptors,
// expressions, SSD boxes): TF.js's pure-JS "cpu" backend, weights read from node_modules.
//
// face-api's ESM bundle includes TF.js; in Node it would pick a platform shim that needs
// `util` (missing from the bundle), so the import runs with Node hidden and a small
// platform object is installed instead. No network access, no native add-on.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repo = resolve(import.meta.dirname, '..');
const faceApiDir = join(repo, 'node_modules', '@vladmandic', 'face-api');

export async function loadFaceApi() {
  const nodeVersions = process.versions;
  Object.defineProperty(process, 'versions', { value: { ...nodeVersions, node: undefined }, configurable: true });
  let faceapi;
  try {
    faceapi = await import(join(faceApiDir, 'dist', 'face-api.esm.js'));
  } finally {
    Object.defineProperty(process, 'versions', { value: nodeVersions, configurable: true });
  }
  faceapi.env.initialize(); // face-api's own environment, now that Node is visible again
  faceapi.tf.env().setPlatform('node', {
    fetch: () => { throw new Error('no network use intended'); },
    now: () => performance.now(),
    encode: (text) => new TextEncoder().encode(text),
    decode: (bytes, encoding) => new TextDecoder(encoding).decode(bytes),
    isTypedArray: (a) => ArrayBuffer.isView(a) && !(a instanceof DataView),
  });
  await faceapi.tf.setBackend('cpu');
  await faceapi.tf.ready();
  return faceapi;
}

// A model's weights from its manifest, decoded by TF.js itself (it dequantizes uint8
// weights), independent of our Python reader.
export function readWeightMap(tf, manifestName) {
  const modelDir = join(faceApiDir, 'model');
  const weightMap = {};
  for (const group of JSON.parse(readFileSync(join(modelDir, manifestName), 'utf8'))) {
    const data = Buffer.concat(group.paths.map((p) => readFileSync(join(modelDir, p))));
    const arrayBuffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    Object.assign(weightMap, tf.io.decodeWeights(arrayBuffer, group.weights));
  }
  return weightMap;
}
