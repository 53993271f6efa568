// kgqa's web page: asks POST /ask and shows the answer, the probabilities, the facts per
// choice and the retrieved subgraph. No libraries, nothing fetched from elsewhere.
// A link such as /?question=...&choice=a&choice=b[&passage=...][&no_kg=1] asks at once.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const FACTS_DRAWN = 3; // facts per choice drawn in the subgraph

// "http://conceptnet.io/c/en/garden_tool/n" -> "garden tool"; other IRIs: their last part.
function label(iri) {
  const m = /\/c\/[a-z]+\/([^/]+)/.exec(iri);
  const raw = m ? m[1] : iri.split(/[/#]/).filter(Boolean).pop() || iri;
  let text = raw;
  try { text = decodeURIComponent(raw); } catch (_) { /* keep it as written */ }
  return text.replace(/_/g, " ");
}

function relationName(iri) {
  return iri.split(/[/#]/).filter(Boolean).pop() || iri;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function readForm() {
  const request = { question: $("question").value.trim() };
  const passage = $("passage").value.trim();
  if (passage) request.passage = passage;
  request.choices = $("choices").value.split("\n").map((c) => c.trim()).filter(Boolean);
  if ($("no-kg").checked) request.no_kg = true;
  return request;
}

function shareLink(request) {
  const p = new URLSearchParams();
  p.set("question", request.question);
  if (request.passage) p.set("passage", request.passage);
  for (const c of request.choices) p.append("choice", c);
  if (request.no_kg) p.set("no_kg", "1");
  history.replaceState(null, "", "?" + p.toString());
}

async function ask(request) {
  $("error").hidden = true;
  $("status").textContent = "Thinking…";
  $("ask-button").disabled = true;
  try {
    const response = await fetch("ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) {
      const where = body.field ? ` (field ${body.field})` : "";
      throw new Error(`${body.error || response.statusText}${where}`);
    }
    shareLink(request);
    show(body);
    $("status").textContent = `Answered in ${body.timings.total_ms.toFixed(0)} ms.`;
  } catch (e) {
    $("status").textContent = "";
    $("error").textContent = e.message;
    $("error").hidden = false;
  } finally {
    $("ask-button").disabled = false;
  }
}

function show(r) {
  $("result").hidden = false;
  $("answer").textContent = r.answer;
  const how = [];
  how.push(r.open_ended ? "candidates proposed by the graph" : "choices given");
  how.push(r.used_kg ? "with the graph's facts" : "without the graph");
  if (r.model) how.push(`model ${r.model}`);
  if (!r.model) how.push("no model: ranked by the graph alone");
  else if (!r.trained_head) how.push("untrained answer head: the probabilities mean nothing yet");
  $("meta").textContent = how.join(" · ");
  const list = $("choice-list");
  list.replaceChildren();
  for (const c of r.choices) {
    const li = el("li", { class: c.text === r.answer ? "choice best" : "choice" });
    const pct = (100 * c.probability).toFixed(1);
    const head = el("div");
    head.append(el("span", { class: "text" }, c.text), ` ${pct}%`);
    if (c.graph_score !== undefined) head.append(` (graph score ${c.graph_score.toFixed(3)})`);
    const bar = el("div", { class: "bar" });
    // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    const fill = el("span");
    fill.style.width = `${pct}%`;
    bar.append(fill);
    li.append(head, bar);
    if (c.facts.length) {
      const facts = el("ul", { class: "facts" });
      for (const f of c.facts) facts.append(el("li", {}, `${f.text} (${f.score.toFixed(3)})`));
      li.append(facts);
    }
    if (c.definitions.length) li.append(el("div", { class: "definition" }, `= ${c.definitions[0].text}`));
    list.append(li);
  }
  const mentions = r.question_concepts.concat(r.passage_concepts);
  const forms = [...new Set(mentions.map((m) => m.form))];
  $("grounding").textContent = forms.length
    ? "Question concepts: " + forms.join(", ")
    : "No concept of the question was found in the graph.";
  const t = r.timings;
  $("timings").textContent = `ground ${t.ground_ms.toFixed(1)} ms · retrieve ${t.retrieve_ms.toFixed(1)} ms · ` +
    `score ${t.score_ms.toFixed(1)} ms · total ${t.total_ms.toFixed(1)} ms`;
  drawGraph(r);
}

// Columns: question concepts, intermediate concepts, choice concepts.
function drawGraph(r) {
  const svg = $("subgraph");
  svg.replaceChildren();
  const question = new Set();
  for (const m of r.question_concepts.concat(r.passage_concepts)) for (const c of m.concepts) question.add(c);
  const choice = new Set();
  const answer = new Set();
  const edges = new Map();
  for (const c of r.choices) {
    for (const iri of c.concepts) {
      choice.add(iri);
      if (c.text === r.answer) answer.add(iri);
    }
    // One drawn edge per pair of concepts, labelled with every relation between them.
    for (const f of c.facts.slice(0, FACTS_DRAWN)) {
      for (const e of f.edges) {
        const key = [e.head, e.tail].sort().join(" ");
        const drawn = edges.get(key) || { head: e.head, tail: e.tail, relations: [] };
        const name = relationName(e.relation);
        if (!drawn.relations.includes(name)) drawn.relations.push(name);
        edges.set(key, drawn);
      }
    }
  }
  const nodes = new Map(); // iri -> column
  const column = (iri) => (choice.has(iri) ? 2 : question.has(iri) ? 0 : 1);
  for (const e of edges.values()) for (const iri of [e.head, e.tail]) nodes.set(iri, column(iri));
  if (!nodes.size) {
    svg.setAttribute("width", 400);
    svg.setAttribute("height", 40);
    svg.append(svgEl("text", { x: 10, y: 25 }, "No facts were retrieved for these choices."));
    return;
  }
  const columns = [[], [], []];
  for (const [iri, col] of [...nodes.entries()].sort((a, b) => label(a[0]).localeCompare(label(b[0])))) {
    columns[col].push(iri);
  }
  const xs = [110, 370, 630];
  const rows = Math.max(...columns.map((c) => c.length));
  const height = rows * 60 + 30;
  svg.setAttribute("width", 760);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 760 ${height}`);
  const at = new Map();
  columns.forEach((col, i) => col.forEach((iri, j) => {
    const gap = height / (col.length + 1);
    at.set(iri, [xs[i], gap * (j + 1)]);
  }));
  const labels = []; // drawn last, over the nodes, so that none hides behind one
  // Edges bend, alternately up and down, so that edges between the same columns and
  // their labels do not lie on top of each other.
  [...edges.values()].forEach((e, i) => {
    const [x1, y1] = at.get(e.head);
    const [x2, y2] = at.get(e.tail);
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const bend = (i % 2 ? -1 : 1) * (14 + 6 * (i % 3));
    let cx = (x1 + x2) / 2 - (bend * (y2 - y1)) / len;
    let cy = (y1 + y2) / 2 + (bend * (x2 - x1)) / len;
    if (Math.abs(x2 - x1) > xs[2] - xs[1] + 10) {
      // From the question column straight to the choices: arc over (or under) the middle
      // column's nodes, away from the centre.
      cx = (x1 + x2) / 2;
      cy = (y1 + y2) / 2 + ((y1 + y2) / 2 < height / 2 ? -72 : 72);
    }
    const g = svgEl("g", { class: "edge" });
    g.append(svgEl("path", { d: `M ${x1} ${y1} Q ${cx} ${cy} ${x2} ${y2}` }));
    // The curve's midpoint is halfway between the chord's midpoint and the control point.
    const mx = ((x1 + x2) / 2 + cx) / 2;
    const my = ((y1 + y2) / 2 + cy) / 2;
    labels.push(svgEl("text", { class: "edge-label", x: mx, y: my - 3, "text-anchor": "middle" }, e.relations.join(", ")));
    svg.append(g);
  });
  for (const [iri, [x, y]] of at) {
    const kind = answer.has(iri) ? "node answer" : choice.has(iri) ? "node choice"
      : question.has(iri) ? "node question" : "node";
    const g = svgEl("g", { class: kind, "data-iri": iri });
    const text = label(iri);
    const w = Math.max(40, 7 * text.length + 14);
    g.append(svgEl("rect", { x: x - w / 2, y: y - 12, width: w, height: 24, rx: 5 }));
    g.append(svgEl("text", { x, y: y + 4, "text-anchor": "middle" }, text));
    g.append(svgEl("title", {}, iri));
    svg.append(g);
  }
  svg.append(...labels);
}

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  ask(readForm());
});

// A shared link asks at once.
const params = new URLSearchParams(location.search);
if (params.get("question")) {
  $("question").value = params.get("question");
  $("passage").value = params.get("passage") || "";
  if (params.get("passage")) $("passage-box").open = true;
  $("choices").value = params.getAll("choice").join("\n");
  $("no-kg").checked = params.get("no_kg") === "1";
  ask(readForm());
}
