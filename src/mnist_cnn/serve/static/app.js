// The draw-a-digit page: pointer drawing on a canvas, predictions from /v1/predict, no dependencies.
// "Number" widens the pad and asks for mode "number" (number.js shows the reading); explain.js draws the panel.
"use strict";

const DEBOUNCE_MS = 200; // while drawing: ask again once the pen pauses this long
const STROKE = 1 / 12; // of the pad's height: a 20 px MNIST box then holds 2–3 px strokes, as MNIST's do
const SIDE = 280; // the pad's height (and its width for one digit)
const WIDE = 3; // number mode: the pad is this many heights wide (four digits at a natural size)
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

function showError(message) {
  $("error").textContent = message;
  result.dataset.state = "error";
  if (explainPanel.dataset.state === "busy") explainPanel.dataset.state = "error";
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
