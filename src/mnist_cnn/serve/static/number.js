// The draw page's Number mode: the picture sent for the pad, and the reading shown as a string, one card per
// digit and each digit's box on the pad. Loaded before app.js, whose helpers ($, percent, fillBars…) it calls.
"use strict";

// Number mode sends the pad at half size (420×140): a digit is still ~80 px tall, four times the model's 20 px box,
// for the same accuracy and less server work (78 vs 107 ms of CPU a request: docs/serve.md, bench_serve_numbers.py).
const NUMBER_SENT = 1 / 2;
const ACCENT = "#2f6fde";
const DOUBT = "#c2410c"; // the least sure digit of an uncertain reading
let explainedDigit = 0; // sequence number of the newest "look inside this digit"; older answers are ignored

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

function showNumber(reading, source, seq) {
  $("digit").textContent = reading.text;
  $("confidence").textContent = `${reading.uncertain ? "uncertain · " : ""}least sure digit ${percent(reading.confidence)}`;
  result.classList.toggle("uncertain", reading.uncertain);
  const doubtful = (d) => reading.uncertain && d.probability === reading.confidence;
  $("digits").replaceChildren(...reading.digits.map((d, i) => digitCard(d, i, doubtful(d))));
  explainedDigit++;
  clearExplanation(); // it was about a digit of the last reading
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
  if (reading.image) {
    Object.assign(card, { tabIndex: 0, title: "Look inside the network at this digit" });
    card.setAttribute("role", "button");
    card.setAttribute("aria-label", `Digit ${index + 1}: ${reading.digit}, ${percent(reading.probability)}; look inside`);
    card.addEventListener("click", () => explainDigit(card, reading, index));
    card.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      explainDigit(card, reading, index);
    });
  }
  return card;
}

// The panel looks inside one digit: its 28×28 image (what the model saw) sent to /v1/explain as pixels.
async function explainDigit(card, reading, index) {
  const seq = ++explainedDigit;
  for (const other of $("digits").children) other.classList.toggle("explained", other === card);
  explainPanel.open = true;
  explainPanel.dataset.state = "busy";
  const body = { images: [{ pixels: reading.image, scale: 255, name: `digit ${index + 1}` }], include_image: true };
  const request = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  try {
    const response = await fetch("/v1/explain", request);
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    if (seq === explainedDigit) showExplanation(answer.predictions[0], seq);
  } catch (error) {
    if (seq !== explainedDigit) return;
    $("explain-status").textContent = error.message;
    explainPanel.dataset.state = "error";
  }
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
    overlay.fillText(`${d.digit} ${percent(d.probability)}`, left - 3, Math.max(20, top - 5));
    const foot = Math.min(boxes.height - 2, bottom + 34);
    const step = (right - left + 6) / 10;
    d.probabilities.forEach((p, digit) => {
      overlay.fillStyle = digit === d.digit ? colour : "#9aa3ad";
      overlay.fillRect(left - 3 + digit * step + 1, foot - Math.max(1, p * 26), Math.max(1, step - 2), Math.max(1, p * 26));
    });
  }
}
