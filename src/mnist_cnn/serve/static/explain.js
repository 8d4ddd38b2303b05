// The "What the network sees" panel: saliency over the 28×28 image and every conv/pooling layer's feature maps,
// drawn from /v1/explain's answer. Loaded before app.js, whose helpers ($, explainPanel, mode…) it calls.
"use strict";

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
    ? "The look inside works on one digit at a time: click a digit's card to look inside it."
    : "Draw a digit to look inside the network.";
  explainPanel.dataset.state = "idle";
}
