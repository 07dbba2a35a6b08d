// Runs the ORIGINAL JavaScript emotion models on emoaudit's fixed reference crops and writes their
// output probabilities, so tests can prove the ONNX conversions faithful without node in CI.
//
//   python tools/js_reference/reference_inputs.py /tmp/js_ref_inputs
//   node tools/js_reference/reference.js /tmp/js_ref_inputs tests/fixtures/js_reference.json \
//     tests/fixtures/blazeface_reference.json
//
// BlazeFace (optional third argument): Human's models/blazeface.json loaded the same way, fed the
// two whole photos exactly as src/face/blazeface.ts getBoxes() does with Human's default
// square: false (the image as float 0..255, resizeBilinear to 256x256 without half-pixel centres,
// / 127.5, - 1), and model.execute(). The four raw outputs are summarised as numbers (top logits
// and their anchors, the regressors there, whole-output sums, Human's decoding of the best
// anchor) rather than stored whole, to keep the fixture small.
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

async function loadHumanGraph(file) {
  const dir = path.join(packageDir('@vladmandic/human'), 'models');
  const model = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
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

// Human's generateAnchors(256): 16x16 cells x 2 anchors at stride 16, then 8x8 x 6 at stride 32.
function blazefaceAnchors() {
  const anchors = [];
  for (const [stride, perCell] of [[16, 2], [32, 6]]) {
    const cells = Math.floor((256 + stride - 1) / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let n = 0; n < perCell; n++) anchors.push([stride * (x + 0.5), stride * (y + 0.5)]);
      }
    }
  }
  return anchors;
}

const topK = (values, k) => Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b).slice(0, k);
const sum = (values) => values.reduce((acc, v) => acc + v, 0);

function blazefaceSummary(model, item) {
  const result = tf.tidy(() => {
    const image = tf.tensor4d(item.pixels, [1, item.height, item.width, 3], 'float32');
    const resized = tf.image.resizeBilinear(image, [256, 256]);
    const normalized = tf.sub(tf.div(resized, tf.scalar(127.5, 'float32')), tf.scalar(1, 'float32'));
    const outputs = model.execute(normalized);
    return { input: normalized.dataSync(), outputs: outputs.map((t) => ({ shape: t.shape, data: t.dataSync() })) };
  });
  const input = Array.from(result.input);
  const named = Object.fromEntries(model.outputs.map((o, i) => [o.name.replace(/:0$/, ''), result.outputs[i]]));
  const summary = {
    input: { sum: sum(input), abs_sum: sum(input.map(Math.abs)), first: round(input.slice(0, 6)), center: round(input.slice(3 * (128 * 256 + 128), 3 * (128 * 256 + 128) + 6)) },
    outputs: {},
  };
  // Identity / Identity_1: score logits (512 and 384 anchors); Identity_2 / Identity_3: regressors.
  for (const [scoresName, regressorsName] of [['Identity', 'Identity_2'], ['Identity_1', 'Identity_3']]) {
    const scores = Array.from(named[scoresName].data);
    const regressors = named[regressorsName].data;
    const top = topK(scores, 8);
    summary.outputs[scoresName] = { shape: named[scoresName].shape, sum: sum(scores), top_anchors: top, top_logits: round(top.map((i) => scores[i])) };
    summary.outputs[regressorsName] = {
      shape: named[regressorsName].shape,
      sum: sum(Array.from(regressors)),
      abs_sum: sum(Array.from(regressors).map(Math.abs)),
      at_top3: top.slice(0, 3).map((i) => round(Array.from(regressors.slice(16 * i, 16 * i + 16)))),
    };
  }
  // Human's merge (512 anchors then 384) and decodeBoxes() for the best anchor, in 256-px units.
  const merged = [...named.Identity.data, ...named.Identity_1.data];
  const best = topK(merged, 1)[0];
  const reg = best < 512 ? named.Identity_2.data.slice(16 * best, 16 * best + 16) : named.Identity_3.data.slice(16 * (best - 512), 16 * (best - 512) + 16);
  const anchor = blazefaceAnchors()[best];
  const cx = reg[0] + anchor[0];
  const cy = reg[1] + anchor[1];
  summary.best = {
    anchor: best,
    score: Number((1 / (1 + Math.exp(-merged[best]))).toPrecision(8)),
    box_256: round([cx - reg[2] / 2, cy - reg[3] / 2, cx + reg[2] / 2, cy + reg[3] / 2]),
  };
  summary.input.sum = Number(summary.input.sum.toPrecision(10));
  summary.input.abs_sum = Number(summary.input.abs_sum.toPrecision(10));
  for (const out of Object.values(summary.outputs)) {
    for (const key of ['sum', 'abs_sum']) if (key in out) out[key] = Number(out[key].toPrecision(8));
  }
  return summary;
}

async function writeBlazefaceReference(inputDir, outFile) {
  const index = JSON.parse(fs.readFileSync(path.join(inputDir, 'index.json'), 'utf8'));
  const model = await loadHumanGraph('blazeface.json');
  const photos = {};
  for (const item of index.photos) {
    const bytes = fs.readFileSync(path.join(inputDir, item.file));
    if (bytes.length !== item.height * item.width * 3) throw new Error(`${item.file}: wrong size`);
    photos[item.name] = { height: item.height, width: item.width, ...blazefaceSummary(model, { ...item, pixels: Int32Array.from(bytes) }) };
  }
  const result = {
    about: "Summaries of the raw outputs of Human's BlazeFace graph (models/blazeface.json, tfjs) on two whole public-domain photos; see tools/js_reference/README.md",
    command: 'python tools/js_reference/reference_inputs.py /tmp/js_ref_inputs && node tools/js_reference/reference.js /tmp/js_ref_inputs tests/fixtures/js_reference.json tests/fixtures/blazeface_reference.json',
    code_path: "tf.loadGraphModel(models/blazeface.json) + src/face/blazeface.ts getBoxes() preprocessing (square: false) replicated",
    node: process.version,
    backend: tf.getBackend(),
    packages: Object.fromEntries(['@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@vladmandic/human'].map((n) => [n, packageVersion(n)])),
    photos_digest: index.photos_digest,
    photos,
  };
  const tmp = `${outFile}.tmp`;
  const text = JSON.stringify(result, null, 1).replace(/\[\s*([^\[\]{}]*?)\s*\]/g, (m, body) => `[${body.split(/,\s*/).join(', ')}]`);
  fs.writeFileSync(tmp, `${text}\n`);
  fs.renameSync(tmp, outFile);
  console.log(`wrote ${outFile}: ${index.photos.length} photos`);
}

async function main() {
  const [inputDir, outFile, blazefaceFile] = process.argv.slice(2);
  if (!inputDir || !outFile) throw new Error('usage: node reference.js INPUT_DIR OUT_JSON [BLAZEFACE_JSON]');
  await tf.setBackend('cpu');
  await tf.ready();
  const { digest, inputs } = readInputs(inputDir);

  const modelDir = path.join(packageDir('@vladmandic/face-api'), 'model');
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  const human = await loadHumanGraph('emotion.json');

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
  if (blazefaceFile) await writeBlazefaceReference(inputDir, blazefaceFile);
}

main().catch((err) => { console.error(err); process.exit(1); });
