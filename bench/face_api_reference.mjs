// Reference face descriptors computed by face-api itself, for checking the Keras port.
//
// Regenerate the fixture (from the repository root, after `npm install`, with the sample
// photos at ../shared/data/samples or FACEWEB_DATA_DIR):
//
//     node bench/face_api_reference.mjs [tests/fixtures/face_api_descriptors.json]
//
// It asks Python to write the chips described by CHIP_RECIPES in tests/pipeline/test_embed.py
// (`.venv/bin/python -m tests.pipeline.test_embed --write-chips DIR`), runs face-api's
// FaceRecognitionNet on each with TF.js's pure-JS "cpu" backend, and writes the recipes, the
// sha256 of each chip's pixels and face-api's 128-d descriptor as JSON.
//
// How face-api runs in Node: bench/face_api_node.mjs.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { loadFaceApi, readWeightMap, repo } from './face_api_node.mjs';

const manifestName = 'face_recognition_model-weights_manifest.json';
const output = resolve(process.argv[2] ?? join(repo, 'tests', 'fixtures', 'face_api_descriptors.json'));

const faceapi = await loadFaceApi();
const { tf } = faceapi;
const net = faceapi.nets.faceRecognitionNet;
net.loadFromWeightMap(readWeightMap(tf, manifestName));

const workDir = mkdtempSync(join(tmpdir(), 'faceweb-chips-'));
try {
  execFileSync(join(repo, '.venv', 'bin', 'python'), ['-m', 'tests.pipeline.test_embed', '--write-chips', workDir], {
    cwd: repo,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const recipes = JSON.parse(readFileSync(join(workDir, 'chips.json'), 'utf8'));
  const pixels = readFileSync(join(workDir, 'chips.u8'));
  const chipBytes = 150 * 150 * 3;
  if (pixels.length !== recipes.length * chipBytes) throw new Error('chips.u8 has the wrong size');

  const chips = recipes.map((recipe, i) => {
    const chip = tf.tensor3d(Int32Array.from(pixels.subarray(i * chipBytes, (i + 1) * chipBytes)), [150, 150, 3], 'int32');
    const descriptor = net.computeFaceDescriptor(chip);
    return descriptor.then((d) => {
      chip.dispose();
      // 8 significant digits keep float32 precision and the file small.
      return { ...recipe, descriptor: Array.from(d, (v) => Number(v.toPrecision(8))) };
    });
  });
  const fixture = {
    generator: 'bench/face_api_reference.mjs',
    face_api_version: faceapi.version,
    tfjs_version: tf.version_core,
    backend: tf.getBackend(),
    input: '150x150 RGB chip, uint8, no resize (face-api normalises: (x - mean_rgb) / 255)',
    chips: await Promise.all(chips),
  };
  // One line per number array keeps the file short and diffs readable.
  const text = JSON.stringify(fixture, null, 1).replace(/\[[-\d.e,\s]+\]/g, (a) => a.replace(/\s+/g, ''));
  writeFileSync(output, `${text}\n`);
  console.log(`wrote ${fixture.chips.length} descriptors to ${output}`);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
