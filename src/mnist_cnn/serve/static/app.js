// The draw-a-digit page: pointer drawing on a canvas, predictions from /v1/predict, no dependencies.
// "Number" widens the pad and asks for mode "number": the string, each digit's box and probabilities.
"use strict";

const DEBOUNCE_MS = 200; // while drawing: ask again once the pen pauses this long
const STROKE = 1 / 12; // of the pad's height: a 20 px MNIST box then holds 2–3 px strokes, as MNIST's do
const SIDE = 280; // the pad's height (and its width for one digit)
const WIDE = 3; // number mode: the pad is this many heights wide (four digits at a natural size)
// Number mode sends the pad at half size (420×140): a digit is still ~80 px tall, four times the model's 20 px box,
// and reading it costs the server about a third less (docs/serve.md, scripts/bench_serve_numbers.py).
const NUMBER_SENT = 1 / 2;
const ACCENT = "#2f6fde";
const DOUBT = "#c2410c"; // the least sure digit of an uncertain reading
const HINTS = {
  digit: ["Draw a digit", "Draw with the mouse, a finger or a pen, or drop a photo of a digit here.",
    "Drawing area: draw one digit with the mouse, a finger or a pen"],
  number: ["Write a number", "Write a number left to right (up to 12 digits), or drop a photo of one here.",
    "Drawing area: write a number left to right with the mouse, a finger or a pen"],
};

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
const boxes = $("boxes");
const numberMode = $("number-mode");
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
  ctx.lineWidth = pad.height * STROKE;
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
  if (!$("photo").hidden) boxes.getContext("2d").clearRect(0, 0, boxes.width, boxes.height); // the photo's view
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
  const body = { images: [{ data_url: padPicture(), name: "canvas" }], include_image: true, mode: mode() };
  ask({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }, "canvas");
}

// What is sent for the pad: the canvas itself, or in number mode a copy at NUMBER_SENT of its size.
function padPicture() {
  if (mode() === "digit") return pad.toDataURL("image/png");
  const copy = Object.assign(document.createElement("canvas"), {
    width: Math.round(pad.width * NUMBER_SENT),
    height: Math.round(pad.height * NUMBER_SENT),
  });
  const copyCtx = copy.getContext("2d");
  copyCtx.imageSmoothingQuality = "high";
  copyCtx.drawImage(pad, 0, 0, copy.width, copy.height);
  return copy.toDataURL("image/png");
}

function predictFile(file) {
  if (!file) return;
  clearPad();
  boxes.getContext("2d").clearRect(0, 0, boxes.width, boxes.height); // the last reading's boxes
  const photo = $("photo");
  if (photo.src) URL.revokeObjectURL(photo.src);
  photo.src = URL.createObjectURL(file);
  photo.hidden = false;
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("include_image", "true");
  form.append("mode", mode());
  ask({ method: "POST", body: form }, "upload");
}

async function ask(request, source) {
  const seq = ++sent;
  lastRequest = [request, source];
  result.dataset.state = "busy";
  // With the panel open one request answers both: /v1/explain gives /v1/predict's answer plus the look inside.
  const explaining = explainPanel.open && mode() === "digit"; // the look inside is one digit's
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
  if (answer.mode === "number") return showNumber(answer.predictions[0], source, seq);
  show(answer.predictions[0], source, seq);
  if (explaining) showExplanation(answer.predictions[0], seq);
}

function show(prediction, source, seq) {
  $("digit").textContent = String(prediction.digit);
  $("confidence").textContent = `${percent(prediction.probability)} sure`;
  fillBars($("bars"), prediction);
  drawSeen($("seen"), prediction.image);
  $("notes").replaceChildren(...prediction.notes.map((note) => Object.assign(document.createElement("li"), { textContent: note })));
  $("error").textContent = "";
  Object.assign(result.dataset, { state: "done", source, seq: String(seq), digit: String(prediction.digit) });
}

function fillBars(list, prediction) {
  prediction.probabilities.forEach((p, digit) => {
    const row = list.children[digit];
    row.dataset.probability = String(p);
    row.classList.toggle("top", digit === prediction.digit);
    row.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector(".pct").textContent = percent(p);
    row.setAttribute("aria-label", `${digit}: ${percent(p)}`);
  });
}

function showNumber(reading, source, seq) {
  $("digit").textContent = reading.text;
  $("confidence").textContent = `${reading.uncertain ? "uncertain · " : ""}least sure digit ${percent(reading.confidence)}`;
  result.classList.toggle("uncertain", reading.uncertain);
  const doubtful = (d) => reading.uncertain && d.probability === reading.confidence;
  $("digits").replaceChildren(...reading.digits.map((d, i) => digitCard(d, i, doubtful(d))));
  if (source === "canvas") drawBoxes(reading.digits, doubtful, null, 1 / NUMBER_SENT);
  else $("photo").decode().then(() => seq === sent && drawBoxes(reading.digits, doubtful, $("photo")), () => {});
  $("notes").replaceChildren(...reading.notes.map((note) => Object.assign(document.createElement("li"), { textContent: note })));
  $("error").textContent = "";
  delete result.dataset.digit;
  Object.assign(result.dataset, { state: "done", source, seq: String(seq), text: reading.text });
}

function digitCard(reading, index, doubtful) {
  const card = document.createElement("figure");
  card.className = doubtful ? "digit-card doubtful" : "digit-card";
  Object.assign(card.dataset, { digit: String(reading.digit), probability: String(reading.probability) });
  const caption = document.createElement("figcaption");
  caption.append(Object.assign(document.createElement("b"), { textContent: String(reading.digit) }), ` ${percent(reading.probability)}`);
  const seen = Object.assign(document.createElement("canvas"), { width: 28, height: 28, className: "seen-small" });
  seen.setAttribute("aria-label", `Digit ${index + 1} as the model saw it (28×28)`);
  if (reading.image) drawSeen(seen, reading.image);
  const bars = Object.assign(document.createElement("ol"), { className: "bars mini" });
  bars.setAttribute("aria-label", `Probabilities of digit ${index + 1}`);
  for (let digit = 0; digit < 10; digit++) bars.append(barRow(digit));
  fillBars(bars, reading);
  card.append(caption, seen, bars);
  return card;
}

// Each digit's box on the pad, labelled, with its ten probabilities as small columns along the box's foot.
// Boxes come in the pixels of the picture sent: `scale` maps them onto the pad. An uploaded photo is drawn on
// the pad first, fitted, and its boxes scaled with it.
function drawBoxes(digits, doubtful, photo = null, scale = 1) {
  const overlay = boxes.getContext("2d");
  overlay.clearRect(0, 0, boxes.width, boxes.height);
  let [dx, dy] = [0, 0];
  if (photo) {
    scale = Math.min(boxes.width / photo.naturalWidth, boxes.height / photo.naturalHeight);
    [dx, dy] = [(boxes.width - photo.naturalWidth * scale) / 2, (boxes.height - photo.naturalHeight * scale) / 2];
    overlay.drawImage(photo, dx, dy, photo.naturalWidth * scale, photo.naturalHeight * scale);
  }
  overlay.font = "bold 18px system-ui, sans-serif";
  overlay.textBaseline = "bottom";
  for (const d of digits) {
    const [left, top, right, bottom] = d.box.map((v, i) => v * scale + (i % 2 ? dy : dx));
    const colour = doubtful(d) ? DOUBT : ACCENT;
    overlay.strokeStyle = overlay.fillStyle = colour;
    overlay.lineWidth = 2;
    overlay.strokeRect(left - 3, top - 3, right - left + 6, bottom - top + 6);
    overlay.fillText(`${d.digit} ${percent(d.probability, 0)}`, left - 3, Math.max(20, top - 5));
    const foot = Math.min(boxes.height - 2, bottom + 34);
    const step = (right - left + 6) / 10;
    d.probabilities.forEach((p, digit) => {
      overlay.fillStyle = digit === d.digit ? colour : "#9aa3ad";
      overlay.fillRect(left - 3 + digit * step + 1, foot - Math.max(1, p * 26), Math.max(1, step - 2), Math.max(1, p * 26));
    });
  }
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
  $("explain-status").textContent = mode() === "number"
    ? "The look inside works on one digit at a time: untick Number to use it."
    : "Draw a digit to look inside the network.";
  explainPanel.dataset.state = "idle";
}

explainPanel.addEventListener("toggle", () => {
  // Opened after a prediction: ask again, this time with the look inside.
  if (explainPanel.open && lastRequest && result.dataset.state === "done" && mode() === "digit") ask(...lastRequest);
});

function percent(p, decimals = 1) {
  return `${(p * 100).toFixed(decimals)}%`;
}

function drawSeen(canvas, rows) {
  const seen = canvas.getContext("2d");
  const pixels = seen.createImageData(28, 28);
  rows.flat().forEach((v, i) => {
    pixels.data.set([v, v, v, 255], i * 4);
  });
  seen.putImageData(pixels, 0, 0);
}

function barRow(digit) {
  const row = document.createElement("li");
  row.innerHTML = `<span class="label">${digit}</span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
  return row;
}

function buildBars() {
  for (let digit = 0; digit < 10; digit++) $("bars").append(barRow(digit));
}

function mode() {
  return numberMode.checked ? "number" : "digit";
}

// Resizing a canvas clears it, so switching starts afresh; #number in the address keeps the choice on reload.
function setMode(number) {
  numberMode.checked = number;
  document.body.classList.toggle("number", number);
  pad.width = boxes.width = number ? SIDE * WIDE : SIDE;
  const [title, hint, label] = HINTS[mode()];
  document.querySelector("h1").textContent = title;
  $("hint").textContent = hint;
  pad.setAttribute("aria-label", label);
  history.replaceState(null, "", number ? "#number" : location.pathname + location.search);
  reset();
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

function reset() {
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
  drawSeen($("seen"), Array(28).fill(Array(28).fill(0)));
  boxes.getContext("2d").clearRect(0, 0, boxes.width, boxes.height);
  $("digits").replaceChildren();
  result.classList.remove("uncertain");
  delete result.dataset.text;
  $("notes").replaceChildren();
  $("error").textContent = "";
  result.dataset.state = "idle";
  lastRequest = null;
  clearExplanation();
}
$("clear").addEventListener("click", reset);
numberMode.addEventListener("change", () => setMode(numberMode.checked));
window.addEventListener("hashchange", () => setMode(location.hash === "#number")); // a link to #number switches too
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
setMode(location.hash === "#number");
loadFacts();
