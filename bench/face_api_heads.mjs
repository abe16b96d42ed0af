// Reference outputs of face-api's heads on face crops, from face-api itself (TF.js CPU backend,
// no tfjs-node): the expression net's 7 probabilities, or the age/gender net's age and gender.
//
// stdin: JSON {"net": "expression" | "age_gender",
//              "inputs": [{"name": str, "shape": [h, w, 3], "rgb": base64 of h*w*3 uint8 RGB}]}
// stdout: JSON {"face_api": version, "tfjs": version, "backend": "cpu", "labels": [...],
//               "outputs": {name: [floats in labels order]}}
// Each input goes through face-api's own public path (predictExpressions or
// predictAgeAndGender on a Tensor3D), so its padding, resizing and normalisation are the ones
// under test. Driven by bench/face_api_heads.py, which builds the inputs and writes the test
// fixtures. How face-api runs in Node: bench/face_api_node.mjs.
import { readFileSync } from 'node:fs';

import { loadFaceApi, readWeightMap } from './face_api_node.mjs';

const faceapi = await loadFaceApi();
const { tf } = faceapi;
const { net: which, inputs } = JSON.parse(readFileSync(0, 'utf8'));
const heads = {
  expression: {
    net: faceapi.nets.faceExpressionNet,
    manifest: 'face_expression_model-weights_manifest.json',
    labels: [...faceapi.FACE_EXPRESSION_LABELS],
    read: async (net, image, labels) => {
      const result = await net.predictExpressions(image);
      return labels.map((label) => result[label]);
    },
  },
  age_gender: {
    net: faceapi.nets.ageGenderNet,
    manifest: 'age_gender_model-weights_manifest.json',
    labels: ['age', 'male', 'female'],
    read: async (net, image) => {
      const { age, gender, genderProbability } = await net.predictAgeAndGender(image);
      const male = gender === 'male' ? genderProbability : 1 - genderProbability;
      return [age, male, 1 - male];
    },
  },
};
const head = heads[which];
head.net.loadFromWeightMap(readWeightMap(tf, head.manifest));

const outputs = {};
for (const { name, shape, rgb } of inputs) {
  const pixels = new Uint8Array(Buffer.from(rgb, 'base64'));
  const image = tf.tensor3d(pixels, shape, 'int32');
  outputs[name] = await head.read(head.net, image, head.labels);
  image.dispose();
}

process.stdout.write(JSON.stringify({
  face_api: faceapi.version, tfjs: tf.version.tfjs, backend: tf.getBackend(), labels: head.labels,
  outputs,
}));
