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
    bar.append(el("span", { style: `width: ${pct}%` }));
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
  $("grounding").textContent = mentions.length
    ? "Question concepts: " + mentions.map((m) => m.form).join(", ")
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
    for (const f of c.facts.slice(0, FACTS_DRAWN)) {
      for (const e of f.edges) edges.set(`${e.head} ${e.relation} ${e.tail}`, e);
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
  const height = rows * 40 + 30;
  svg.setAttribute("width", 760);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 760 ${height}`);
  const at = new Map();
  columns.forEach((col, i) => col.forEach((iri, j) => {
    const gap = height / (col.length + 1);
    at.set(iri, [xs[i], gap * (j + 1)]);
  }));
  for (const e of edges.values()) {
    const [x1, y1] = at.get(e.head);
    const [x2, y2] = at.get(e.tail);
    const g = svgEl("g", { class: "edge" });
    g.append(svgEl("line", { x1, y1, x2, y2 }));
    g.append(svgEl("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, "text-anchor": "middle" }, relationName(e.relation)));
    svg.append(g);
  }
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
