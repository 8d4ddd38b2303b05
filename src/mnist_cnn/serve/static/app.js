// The draw-a-digit page: pointer drawing on a canvas, predictions from /v1/predict, no dependencies.
"use strict";

const DEBOUNCE_MS = 200; // while drawing: ask again once the pen pauses this long
const STROKE = 1 / 12; // of the pad's side: a 20 px MNIST box then holds 2–3 px strokes, as MNIST's do

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
const result = $("result");
let drawing = false;
let hasInk = false;
let last = null;
let timer = null;
let sent = 0; // sequence number of the newest request; older answers are ignored
const explainPanel = $("explain");
let lastRequest = null; // [request, source] of the newest question: asked again when the panel opens
if (window.matchMedia("(max-width: 640px)").matches) explainPanel.open = false; // a phone: collapsed at first

function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  hasInk = false;
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
}

function stroke(from, to) {
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = pad.width * STROKE;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
  hasInk = true;
}

pad.addEventListener("pointerdown", (event) => {
  if (event.pointerType === "mouse" && event.button !== 0) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  $("photo").hidden = true;
  drawing = true;
  last = point(event);
  stroke(last, last);
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const next = point(e);
    stroke(last, next);
    last = next;
  }
  clearTimeout(timer);
  timer = setTimeout(predictPad, DEBOUNCE_MS);
});

function endStroke() {
  if (!drawing) return;
  drawing = false;
  clearTimeout(timer);
  predictPad();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function predictPad() {
  if (!hasInk) return;
  const body = { images: [{ data_url: pad.toDataURL("image/png"), name: "canvas" }], include_image: true };
  ask({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }, "canvas");
}

function predictFile(file) {
  if (!file) return;
  clearPad();
  const photo = $("photo");
  if (photo.src) URL.revokeObjectURL(photo.src);
  photo.src = URL.createObjectURL(file);
  photo.hidden = false;
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("include_image", "true");
  ask({ method: "POST", body: form }, "upload");
}

async function ask(request, source) {
  const seq = ++sent;
  lastRequest = [request, source];
  result.dataset.state = "busy";
  // With the panel open one request answers both: /v1/explain gives /v1/predict's answer plus the look inside.
  const explaining = explainPanel.open;
  if (explaining) explainPanel.dataset.state = "busy";
  let answer;
  try {
    const response = await fetch(explaining ? "/v1/explain" : "/v1/predict", request);
    answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  } catch (error) {
    if (seq === sent) showError(error.message);
    return;
  }
  if (seq !== sent) return;
  show(answer.predictions[0], source, seq);
  if (explaining) showExplanation(answer.predictions[0], seq);
}

function show(prediction, source, seq) {
  $("digit").textContent = String(prediction.digit);
  $("confidence").textContent = `${percent(prediction.probability)} sure`;
  prediction.probabilities.forEach((p, digit) => {
    const row = $("bars").children[digit];
    row.dataset.probability = String(p);
    row.classList.toggle("top", digit === prediction.digit);
    row.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector(".pct").textContent = percent(p);
    row.setAttribute("aria-label", `${digit}: ${percent(p)}`);
  });
  drawSeen(prediction.image);
  $("notes").replaceChildren(...prediction.notes.map((note) => Object.assign(document.createElement("li"), { textContent: note })));
  $("error").textContent = "";
  Object.assign(result.dataset, { state: "done", source, seq: String(seq), digit: String(prediction.digit) });
}

function showError(message) {
  $("error").textContent = message;
  result.dataset.state = "error";
  if (explainPanel.dataset.state === "busy") explainPanel.dataset.state = "error";
}

// Feature-map colours: viridis, as in `mnist-cnn explain`'s PNG panels (dark: no activation).
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const RAMP = Array.from({ length: 256 }, (_, v) => {
  const x = (v / 255) * 4;
  const i = Math.min(3, Math.floor(x));
  return VIRIDIS[i].map((a, k) => Math.round(a + (VIRIDIS[i + 1][k] - a) * (x - i)));
});

function showExplanation(prediction, seq) {
  const explanation = prediction.explanation;
  drawSaliency(prediction.image, explanation.saliency.grid);
  const missing = explanation.feature_maps_missing;
  $("explain-status").textContent = missing
    ? `No feature maps: ${missing}`
    : `Why ${prediction.digit}: the saliency, and what each layer found (one tile per filter; brighter = stronger).`;
  $("layers").replaceChildren(...explanation.layers.map(layerView));
  Object.assign(explainPanel.dataset, { state: "done", seq: String(seq), layers: String(explanation.layers.length) });
}

function drawSaliency(rows, grid) {
  const canvas = $("saliency").getContext("2d");
  const pixels = canvas.createImageData(28, 28);
  const values = grid.flat();
  const peak = Math.max(...values.map(Math.abs)) || 1;
  rows.flat().forEach((v, i) => {
    const grey = 0.25 + (0.5 * v) / 255;
    const red = Math.min(1, Math.max(0, values[i] / peak));
    const blue = Math.min(1, Math.max(0, -values[i] / peak));
    const base = grey * (1 - Math.max(red, blue));
    pixels.data.set([(base + red) * 255, base * 255, (base + blue) * 255, 255], i * 4);
  });
  canvas.putImageData(pixels, 0, 0);
}

function layerView(layer) {
  const [height, width, channels] = layer.shape;
  const bytes = Uint8Array.from(atob(layer.maps), (c) => c.charCodeAt(0));
  const section = document.createElement("section");
  section.className = "layer";
  Object.assign(section.dataset, { layer: layer.name, shape: layer.shape.join("x") });
  const title = document.createElement("h3");
  title.append(`${layer.name} `, Object.assign(document.createElement("span"), {
    textContent: `${layer.kind} · ${channels} maps of ${height}×${width}`,
  }));
  const tiles = document.createElement("div");
  tiles.className = "tiles";
  for (let c = 0; c < channels; c++) {
    const tile = Object.assign(document.createElement("canvas"), { width, height, className: "tile" });
    tile.setAttribute("aria-label", `${layer.name} filter ${c + 1}: peak ${(layer.channel_max[c] ?? 0).toFixed(2)}`);
    const image = tile.getContext("2d").createImageData(width, height);
    for (let i = 0; i < width * height; i++) {
      image.data.set([...RAMP[bytes[c * width * height + i]], 255], i * 4);
    }
    tile.getContext("2d").putImageData(image, 0, 0);
    tiles.append(tile);
  }
  section.append(title, tiles);
  return section;
}

function clearExplanation() {
  $("layers").replaceChildren();
  const canvas = $("saliency").getContext("2d");
  canvas.fillStyle = "#000";
  canvas.fillRect(0, 0, 28, 28);
  $("explain-status").textContent = "Draw a digit to look inside the network.";
  explainPanel.dataset.state = "idle";
}

explainPanel.addEventListener("toggle", () => {
  // Opened after a prediction: ask again, this time with the look inside.
  if (explainPanel.open && lastRequest && result.dataset.state === "done") ask(...lastRequest);
});

function percent(p, decimals = 1) {
  return `${(p * 100).toFixed(decimals)}%`;
}

function drawSeen(rows) {
  const seen = $("seen").getContext("2d");
  const pixels = seen.createImageData(28, 28);
  rows.flat().forEach((v, i) => {
    pixels.data.set([v, v, v, 255], i * 4);
  });
  seen.putImageData(pixels, 0, 0);
}

function buildBars() {
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement("li");
    row.innerHTML = `<span class="label">${digit}</span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
    $("bars").append(row);
  }
}

async function loadFacts() {
  try {
    const facts = await (await fetch("/v1/model")).json();
    const accuracy = facts.test_accuracy == null ? "test accuracy unknown" : `test accuracy ${percent(facts.test_accuracy, 2)}`;
    $("model-facts").textContent = `Model: ${facts.name} · ${accuracy} · ${facts.kind} (${facts.runtime})`;
  } catch (error) {
    $("model-facts").textContent = "The model's facts could not be loaded.";
  }
}

$("clear").addEventListener("click", () => {
  clearPad();
  clearTimeout(timer);
  sent++;
  $("photo").hidden = true;
  $("digit").textContent = "?";
  $("confidence").textContent = "";
  for (const row of $("bars").children) {
    row.classList.remove("top");
    row.querySelector(".fill").style.width = "0";
    row.querySelector(".pct").textContent = "";
    delete row.dataset.probability;
  }
  drawSeen(Array(28).fill(Array(28).fill(0)));
  $("notes").replaceChildren();
  $("error").textContent = "";
  result.dataset.state = "idle";
  lastRequest = null;
  clearExplanation();
});
$("choose").addEventListener("click", () => $("upload").click());
$("upload").addEventListener("change", (event) => {
  predictFile(event.target.files[0]);
  event.target.value = "";
});

const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("dragging");
});
drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("dragging");
  predictFile(event.dataTransfer.files[0]);
});

buildBars();
clearPad();
loadFacts();
