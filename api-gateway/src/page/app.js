// The page's logic: submit a prompt, follow the job's events (SSE with a short-lived stream
// token, never the API key in a URL), then show the thumbnail, the 3D view, the measured
// geometry and the downloads. The API key stays in this tab's sessionStorage and travels
// only in the X-API-Key header.
"use strict";

const FORMATS = ["step", "stl", "fcstd", "glb", "obj", "ply", "3mf", "png"];
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = sessionStorage.getItem("designer-api-key") || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem("designer-api-key", keyInput.value.trim());
  if (!$("examples").children.length) { say(""); loadExamples(); }
});

function headers(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { "X-API-Key": key, ...extra } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message || message; } catch (_) { /* not JSON */ }
    if (response.status === 401) message += " (enter a valid API key above)";
    throw new Error(message);
  }
  return response;
}

function say(text) { $("message").textContent = text || ""; }

async function loadExamples() {
  try {
    const entries = await (await api("/api/v1/catalogue")).json();
    for (const entry of entries) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "example";
      button.textContent = entry.example;
      button.title = entry.what;
      button.addEventListener("click", () => { $("prompt").value = entry.example; $("prompt").focus(); });
      $("examples").appendChild(button);
    }
  } catch (error) {
    say(`Examples unavailable: ${error.message}`);
  }
}

function logLine(text) {
  const item = document.createElement("li");
  item.textContent = text;
  $("log").appendChild(item);
  $("log").scrollTop = $("log").scrollHeight;
}

function setStatus(status, progress) {
  $("status").textContent = status;
  $("status").className = `status ${status}`;
  if (typeof progress === "number") $("bar").value = progress;
}

// Follows one job's events until its terminal event; reconnects with a fresh token (events
// are replayed from the start, already-seen seqs are skipped).
function follow(requestId) {
  return new Promise((resolve, reject) => {
    let lastSeq = 0, attempts = 0;
    const open = async () => {
      let token;
      try {
        token = await (await api(`/api/v1/design/${requestId}/stream-token`, { method: "POST" })).json();
      } catch (error) { reject(error); return; }
      const source = new EventSource(token.events_url);
      const handle = (kind) => source.addEventListener(kind, (message) => {
        const event = JSON.parse(message.data);
        if (event.seq <= lastSeq) return;
        lastSeq = event.seq;
        attempts = 0;
        onEvent(kind, event.data || {});
        if (kind === "completed") { source.close(); resolve(event.data); }
      });
      ["status", "progress", "llm_chunk", "log", "validation", "artifact", "error", "completed"].forEach(handle);
      source.onerror = () => {
        source.close();
        if (++attempts > 5) { reject(new Error("the event stream keeps failing")); return; }
        setTimeout(open, 500 * attempts);
      };
    };
    open();
  });
}

function onEvent(kind, data) {
  switch (kind) {
    case "status": setStatus(data.status, data.progress); logLine(`status: ${data.status}`); break;
    case "progress": $("bar").value = data.progress; if (data.message) logLine(data.message); break;
    case "llm_chunk": $("model-text").hidden = false; $("model-text").textContent += data.content || ""; break;
    case "log": logLine(data.message || JSON.stringify(data)); break;
    case "validation": logLine(`validation: score ${Number(data.score).toFixed(2)}${data.approved ? " (approved)" : ""}`); break;
    case "artifact": logLine(`made ${data.format} (${data.bytes} bytes)`); break;
    case "error": logLine(`error: ${data.message || JSON.stringify(data)}`); break;
    case "completed": setStatus(data.status, 1); break;
  }
}

function showGeometry(geometry) {
  const table = $("geometry");
  table.textContent = "";
  if (!geometry) return;
  const mm = (v) => `${Number(v).toFixed(2)}`;
  const rows = [
    ["bounding box", `${geometry.bbox.map(mm).join(" × ")} mm`],
    ["volume", `${mm(geometry.volume)} mm³`],
    ["area", `${mm(geometry.area)} mm²`],
    ["solids", `${geometry.solids}`],
    ["valid", geometry.valid ? "yes" : "no"],
  ];
  for (const [name, value] of rows) {
    const row = table.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = value;
  }
}

// Downloads go through fetch (so the API key travels as a header), then a blob link.
async function download(artifact) {
  try {
    const blob = await (await api(artifact.url)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = artifact.name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) { say(`Download failed: ${error.message}`); }
}

function showDownloads(artifacts) {
  const list = $("downloads");
  list.textContent = "";
  for (const artifact of artifacts) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = artifact.url;
    link.className = "download";
    link.dataset.format = artifact.format;
    link.textContent = `${artifact.format.toUpperCase()} (${(artifact.bytes / 1024).toFixed(1)} KiB)`;
    link.addEventListener("click", (e) => { e.preventDefault(); download(artifact); });
    item.appendChild(link);
    list.appendChild(item);
  }
}

async function showResult(requestId) {
  const record = await (await api(`/api/v1/design/${requestId}`)).json();
  if (record.status !== "completed") {
    say(record.error_message || `The design ended as ${record.status}.`);
    return;
  }
  $("result").hidden = false;
  showGeometry(record.geometry);
  showDownloads(record.artifacts || []);
  const byFormat = Object.fromEntries((record.artifacts || []).map((a) => [a.format, a]));
  if (byFormat.png) {
    const blob = await (await api(byFormat.png.url)).blob();
    $("thumbnail").src = URL.createObjectURL(blob);
  }
  if (byFormat.stl) {
    const buffer = await (await api(byFormat.stl.url)).arrayBuffer();
    try {
      const triangles = viewer.show(buffer);
      $("viewer").dataset.triangles = String(triangles);
    } catch (error) { say(`3D view: ${error.message}`); }
  }
}

let viewer = null;
try { viewer = Viewer.create($("viewer")); } catch (error) { say(error.message); }

$("submit").addEventListener("click", async () => {
  const prompt = $("prompt").value.trim();
  if (!prompt) { say("Write a prompt first, or pick an example."); return; }
  say("");
  $("submit").disabled = true;
  $("progress").hidden = false;
  $("result").hidden = true;
  $("log").textContent = "";
  $("model-text").textContent = "";
  $("model-text").hidden = true;
  setStatus("pending", 0);
  try {
    const created = await (await api("/api/v1/design", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt, output_formats: FORMATS }),
    })).json();
    $("progress").dataset.requestId = created.request_id;
    await follow(created.request_id);
    await showResult(created.request_id);
  } catch (error) {
    say(error.message);
  } finally {
    $("submit").disabled = false;
  }
});

loadExamples();
