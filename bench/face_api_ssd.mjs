// Face boxes found by face-api's own SSD MobileNetV1 detector, for measuring it and checking a port.
//
//     node bench/face_api_ssd.mjs DIR MIN_SCORE
//
// DIR holds `images.json` ([{name, height, width}, ...]) and `pixels.u8` (those RGB images,
// uint8, row-major, one after another), as bench/ssd_wider.py writes them. face-api's
// `locateFaces` runs on each with TF.js's pure-JS "cpu" backend (at most 100 boxes, its NMS
// at IoU 0.5); DIR/ssd.json gets per image the boxes [x1, y1, x2, y2] in the image's pixels
// and their scores, best first. How face-api runs in Node: bench/face_api_node.mjs.

import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { loadFaceApi, readWeightMap } from './face_api_node.mjs';

const [dir, minScore] = [resolve(process.argv[2]), Number(process.argv[3] ?? 0.5)];

const faceapi = await loadFaceApi();
const { tf } = faceapi;
const net = faceapi.nets.ssdMobilenetv1;
net.loadFromWeightMap(readWeightMap(tf, 'ssd_mobilenetv1_model-weights_manifest.json'));

const images = JSON.parse(readFileSync(join(dir, 'images.json'), 'utf8'));
const pixels = readFileSync(join(dir, 'pixels.u8'));
const results = [];
let at = 0;
for (const { name, height, width } of images) {
  const size = height * width * 3;
  const image = tf.tensor3d(Int32Array.from(pixels.subarray(at, at + size)), [height, width, 3], 'int32');
  at += size;
  const start = performance.now();
  const faces = await net.locateFaces(image, { minConfidence: minScore, maxResults: 100 });
  const ms = performance.now() - start;
  image.dispose();
  results.push({
    name,
    ms,
    boxes: faces.map((f) => {
      const r = f.relativeBox; // fractions of the image; scale here to stay explicit
      return [r.x * width, r.y * height, (r.x + r.width) * width, (r.y + r.height) * height];
    }),
    scores: faces.map((f) => f.score),
  });
}
writeFileSync(join(dir, 'ssd.json'), JSON.stringify({ face_api_version: faceapi.version, backend: tf.getBackend(), min_score: minScore, images: results }));
console.log(`${results.length} images, median ${results.map((r) => r.ms).sort((a, b) => a - b)[results.length >> 1].toFixed(0)} ms`);
