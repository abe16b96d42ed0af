// Reference expression probabilities from face-api itself (TF.js CPU backend, no tfjs-node).
//
// stdin: JSON {"inputs": [{"name": str, "shape": [h, w, 3], "rgb": base64 of h*w*3 uint8 RGB}]}
// stdout: JSON {"face_api": version, "tfjs": version, "backend": "cpu", "labels": [...],
//               "probabilities": {name: [7 floats in labels order]}}
// Each input goes through face-api's own public path, nets.faceExpressionNet.predictExpressions
// on a Tensor3D, so its padding, resizing and normalisation are the ones under test.
// Driven by bench/face_api_expressions.py, which builds the inputs and writes the test fixture.
// How face-api runs in Node: bench/face_api_node.mjs.
import { readFileSync } from 'node:fs';

import { loadFaceApi, readWeightMap } from './face_api_node.mjs';

const faceapi = await loadFaceApi();
const { tf } = faceapi;
const net = faceapi.nets.faceExpressionNet;
net.loadFromWeightMap(readWeightMap(tf, 'face_expression_model-weights_manifest.json'));

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
