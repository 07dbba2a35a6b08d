// Runs the ORIGINAL JavaScript emotion models on emoaudit's fixed reference crops and writes their
// output probabilities, so tests can prove the ONNX conversions faithful without node in CI.
//
//   python tools/js_reference/reference_inputs.py /tmp/js_ref_inputs
//   node tools/js_reference/reference.js /tmp/js_ref_inputs tests/fixtures/js_reference.json
//
// Backend: tfjs "cpu" (pure JavaScript, float32), the same in every environment.
//
// face-api: its own code path end to end. faceapi.nets.faceExpressionNet.loadFromDisk() reads the
// package's model/ folder (uint8 weights dequantized by tfjs), and predictExpressions(tensor3d)
// does face-api's preprocessing (centred padToSquare with zeros, resizeBilinear to 112 without
// half-pixel centres, minus mean RGB, / 255), the network and the softmax.
//
// Human: the library as a whole does not load models from disk headless in node without
// tfjs-node (whose install downloads a native binary), and its emotion module is not exported.
// So this loads the same files Human ships (models/emotion.json + .bin) with tfjs-converter's
// loadGraphModel and replicates src/gear/emotion.ts predict() exactly (crop disabled, the
// default): resizeBilinear(image, [64, 64], false), times [0.2989, 0.5870, 0.1140], sum over
// channels, minus 0.5, times 2, model.execute(). Human feeds that function face crops as float
// RGB in 0..1, so the uint8 crop is divided by 255 first. Recorded probabilities are the raw
// model outputs, before Human's rounding to two decimals.
'use strict';

const fs = require('fs');
const path = require('path');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const tf = faceapi.tf;
const HUMAN_EMOTION_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

// Package folders by path: Human's package.json "exports" hides its own package.json and models/.
const packageDir = (name) => path.join(__dirname, 'node_modules', ...name.split('/'));
const packageVersion = (name) => JSON.parse(fs.readFileSync(path.join(packageDir(name), 'package.json'), 'utf8')).version;

function readInputs(dir) {
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const inputs = index.inputs.map((item) => {
    const bytes = fs.readFileSync(path.join(dir, item.file));
    if (bytes.length !== item.height * item.width * 3) throw new Error(`${item.file}: wrong size`);
    return { ...item, pixels: Int32Array.from(bytes) };
  });
  return { digest: index.digest, inputs };
}

async function loadHumanEmotion() {
  const dir = path.join(packageDir('@vladmandic/human'), 'models');
  const model = JSON.parse(fs.readFileSync(path.join(dir, 'emotion.json'), 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs, weightData }));
}

function humanEmotion(model, item) {
  return tf.tidy(() => {
    const image = tf.div(tf.tensor4d(item.pixels, [1, item.height, item.width, 3], 'float32'), 255);
    const inputSize = model.inputs[0].shape[2];
    const resize = tf.image.resizeBilinear(image, [inputSize, inputSize], false);
    const channels = tf.mul(resize, tf.tensor1d([0.2989, 0.5870, 0.1140], 'float32'));
    const grayscale = tf.sum(channels, 3, true);
    const grayscaleSub = tf.sub(grayscale, tf.scalar(0.5, 'float32'));
    const grayscaleMul = tf.mul(grayscaleSub, tf.scalar(2.0, 'float32'));
    return Array.from(model.execute(grayscaleMul).dataSync());
  });
}

async function faceapiExpression(item) {
  const image = tf.tensor3d(item.pixels, [item.height, item.width, 3], 'int32');
  const result = await faceapi.nets.faceExpressionNet.predictExpressions(image);
  image.dispose();
  return faceapi.FACE_EXPRESSION_LABELS.map((label) => result[label]);
}

const round = (values) => values.map((v) => Number(v.toPrecision(8)));

async function main() {
  const [inputDir, outFile] = process.argv.slice(2);
  if (!inputDir || !outFile) throw new Error('usage: node reference.js INPUT_DIR OUT_JSON');
  await tf.setBackend('cpu');
  await tf.ready();
  const { digest, inputs } = readInputs(inputDir);

  const modelDir = path.join(packageDir('@vladmandic/face-api'), 'model');
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  const human = await loadHumanEmotion();

  const faceapiOut = {};
  const humanOut = {};
  for (const item of inputs) {
    faceapiOut[item.name] = round(await faceapiExpression(item));
    humanOut[item.name] = round(humanEmotion(human, item));
  }
  const result = {
    about: 'Output probabilities of the original JavaScript models on tools/js_reference/reference_inputs.py crops; see tools/js_reference/README.md',
    command: 'python tools/js_reference/reference_inputs.py /tmp/js_ref_inputs && node tools/js_reference/reference.js /tmp/js_ref_inputs tests/fixtures/js_reference.json',
    node: process.version,
    backend: tf.getBackend(),
    packages: Object.fromEntries(['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-converter',
      '@tensorflow/tfjs-backend-cpu', '@vladmandic/face-api', '@vladmandic/human'].map((n) => [n, packageVersion(n)])),
    inputs_digest: digest,
    models: {
      'faceapi-expression': { code_path: 'faceapi.nets.faceExpressionNet.predictExpressions(tensor3d)', labels: [...faceapi.FACE_EXPRESSION_LABELS], outputs: faceapiOut },
      'human-emotion': { code_path: 'tf.loadGraphModel(models/emotion.json) + src/gear/emotion.ts predict() preprocessing replicated', labels: HUMAN_EMOTION_LABELS, outputs: humanOut },
    },
  };
  const tmp = `${outFile}.tmp`;
  // One line per probability vector keeps the fixture small and diffable.
  const text = JSON.stringify(result, null, 1).replace(/\[\s*([^\[\]{}]*?)\s*\]/g, (m, body) => `[${body.split(/,\s*/).join(', ')}]`);
  fs.writeFileSync(tmp, `${text}\n`);
  fs.renameSync(tmp, outFile);
  console.log(`wrote ${outFile}: ${inputs.length} inputs x 2 models`);
}

main().catch((err) => { console.error(err); process.exit(1); });
