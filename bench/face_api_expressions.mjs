// Reference expression probabilities from face-api itself (TF.js CPU backend, no tfjs-node).
//
// stdin: JSON {"inputs": [{"name": str, "shape": [h, w, 3], "rgb": base64 of h*w*3 uint8 RGB}]}
// stdout: JSON {"face_api": version, "tfjs": version, "backend": "cpu", "labels": [...],
//               "probabilities": {name: [7 floats in labels order]}}
// Each input goes through face-api's own public path, nets.faceExpressionNet.predictExpressions
// on a Tensor3D, so its padding, resizing and normalisation are the ones under test.
// Driven by bench/face_api_expressions.py, which builds the inputs and writes the test fixture.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MODEL_DIR = fileURLToPath(new URL('../node_modules/@vladmandic/face-api/model/', import.meta.url));
const MANIFEST = 'face_expression_model-weights_manifest.json';

// The ESM bundle stubs Node's `util`, so tfjs's Node platform throws at import. Hide Node while
// importing, then register a small platform made of web APIs that Node has anyway.
const versions = process.versions;
Object.defineProperty(process, 'versions', { value: {}, configurable: true, writable: true });
const faceapi = await import('../node_modules/@vladmandic/face-api/dist/face-api.esm.js');
Object.defineProperty(process, 'versions', { value: versions, configurable: true, writable: true });
faceapi.env.initialize(); // face-api's own Node environment, skipped while Node was hidden
const { tf } = faceapi;
tf.env().setPlatform('node-web-apis', {
  fetch: (url, init) => fetch(url, init),
  now: () => performance.now(),
  encode: (text) => new TextEncoder().encode(text),
  decode: (bytes, encoding) => new TextDecoder(encoding).decode(bytes),
  isTypedArray: (a) => ArrayBuffer.isView(a) && !(a instanceof DataView),
  setTimeoutCustom: (fn, ms) => setTimeout(fn, ms),
});
await tf.setBackend('cpu');
await tf.ready();

function loadWeightMap() {
  const groups = JSON.parse(readFileSync(MODEL_DIR + MANIFEST, 'utf8'));
  const specs = groups.flatMap((g) => g.weights);
  const bytes = Buffer.concat(groups.flatMap((g) => g.paths.map((p) => readFileSync(MODEL_DIR + p))));
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return tf.io.decodeWeights(buffer, specs); // dequantizes uint8 weights like face-api does
}

const net = faceapi.nets.faceExpressionNet;
net.loadFromWeightMap(loadWeightMap());

const { inputs } = JSON.parse(readFileSync(0, 'utf8'));
const labels = [...faceapi.FACE_EXPRESSION_LABELS];
const probabilities = {};
for (const { name, shape, rgb } of inputs) {
  const pixels = new Uint8Array(Buffer.from(rgb, 'base64'));
  const image = tf.tensor3d(pixels, shape, 'int32');
  const result = await net.predictExpressions(image);
  probabilities[name] = labels.map((label) => result[label]);
  image.dispose();
}

process.stdout.write(JSON.stringify({
  face_api: faceapi.version, tfjs: tf.version.tfjs, backend: tf.getBackend(), labels, probabilities,
}));
