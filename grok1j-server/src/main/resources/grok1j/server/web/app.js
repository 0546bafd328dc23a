// The grok1j page: a chat view (POST /v1/chat/completions) and a completion view (POST /v1/completions), both
// streamed over server-sent events, read from fetch() so that Stop can abort the request (the server then cancels
// the sequence). No framework, no build step: this file is served as it is.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "grok1j.apiKey"; // sessionStorage: gone when the tab closes

const state = {
  view: "chat",
  history: [],      // chat messages sent so far: {role, content}
  controller: null, // AbortController of the request in flight
};

// ------------------------------------------------------------------ API key

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

/** Shows the key dialog; resolves true once a key was saved, false if cancelled. */
function askKey(message) {
  const dialog = $("key-dialog");
  if (message) dialog.querySelector("p").textContent = message;
  $("key-input").value = sessionStorage.getItem(KEY) || "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "save" && $("key-input").value.trim() !== "";
      if (ok) sessionStorage.setItem(KEY, $("key-input").value.trim());
      resolve(ok);
    }, { once: true });
    dialog.showModal();
    $("key-input").focus();
  });
}

// ------------------------------------------------------------------ errors and status

function showError(text) {
  const e = $("error");
  e.textContent = text;
  e.hidden = !text;
}

async function errorText(res) {
  try {
    const body = await res.json();
    return (body.error && body.error.message) || JSON.stringify(body);
  } catch (_) {
    return "HTTP " + res.status;
  }
}

// ------------------------------------------------------------------ the model and the default view

async function loadModel() {
  for (;;) {
    let res;
    try {
      res = await fetch("v1/models", { headers: headers() });
    } catch (e) {
      $("model-name").textContent = "server unreachable";
      await sleep(2000);
      continue;
    }
    if (res.status === 401) {
      $("model-name").textContent = "API key needed";
      if (!(await askKey())) return;
      continue;
    }
    if (res.status === 503) { // loading the model
      $("model-name").textContent = "loading the model…";
      await sleep(1000);
      continue;
    }
    if (!res.ok) {
      showError(await errorText(res));
      return;
    }
    const model = (await res.json()).data[0];
    $("model-name").textContent = model.id + (model.max_model_len ? " · " + model.max_model_len + " ctx" : "");
    // Grok-2 is a chat model; Grok-1 was released as a base model: start where each is at home
    if (!sessionStorage.getItem("grok1j.view")) showView(model.architecture === "grok-1" ? "completion" : "chat");
    return;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Returns a function that runs paint() at most every 50 ms (and once more after the last call): tokens can come
 * faster than a page can lay text out, so the DOM is updated in batches.
 */
function throttled(paint) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    setTimeout(() => { queued = false; paint(); }, 50);
  };
}

/** Shows one view; remember: the user chose it (it then outlives a reload of the tab). */
function showView(view, remember) {
  state.view = view;
  if (remember) sessionStorage.setItem("grok1j.view", view);
  $("chat-view").hidden = view !== "chat";
  $("completion-view").hidden = view !== "completion";
  $("tab-chat").setAttribute("aria-selected", view === "chat");
  $("tab-completion").setAttribute("aria-selected", view === "completion");
  for (const el of document.querySelectorAll(".chat-only")) el.hidden = view !== "chat";
}

// ------------------------------------------------------------------ request body from the settings

function number(id, parse) {
  const v = $(id).value.trim();
  return v === "" ? undefined : parse(v);
}

function samplingFields() {
  const body = {
    temperature: number("temperature", parseFloat),
    top_p: number("top_p", parseFloat),
    max_tokens: number("max_tokens", (v) => parseInt(v, 10)),
    seed: number("seed", (v) => parseInt(v, 10)),
    stream: true,
    stream_options: { include_usage: true },
  };
  const topK = number("top_k", (v) => parseInt(v, 10));
  if (topK > 0) body.top_k = topK;
  const stop = $("stop-strings").value.split("\n").filter((s) => s !== "");
  if (stop.length) body.stop = stop;
  const format = $("format").value;
  if (format === "json_object") body.response_format = { type: "json_object" };
  if (format === "json_schema") {
    let schema;
    try {
      schema = JSON.parse($("schema").value);
    } catch (e) {
      throw new Error("the JSON schema does not parse: " + e.message);
    }
    body.response_format = { type: "json_schema", json_schema: { name: "output", schema, strict: true } };
  }
  return body;
}

// ------------------------------------------------------------------ streaming

/**
 * POSTs body to path and calls onText(text) for every piece of generated text as it arrives. Resolves with
 * {finish, usage, stopped}. 401 asks for the key and retries once saved.
 */
async function stream(path, body, onText) {
  const controller = new AbortController();
  state.controller = controller;
  const sent = performance.now();
  let first = 0, last = 0, pieces = 0, usage = null, finish = null;
  let ended = false;
  const readout = throttled(() => { if (!ended) updateReadout(sent, first, last, pieces); });
  resetReadout();
  try {
    let res;
    for (;;) {
      res = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
      if (res.status !== 401) break;
      if (!(await askKey("The server refused the key. Enter the API key (grok1j serve --api-key)."))) {
        throw new Error(await errorText(res));
      }
    }
    if (!res.ok) throw new Error(await errorText(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let yielded = performance.now();
    for (;;) {
      // read() resolves at once while bytes are buffered: when tokens come faster than the page handles them, the
      // loop would never leave the microtask queue, and the page would neither paint nor take a click on Stop
      if (performance.now() - yielded > 30) {
        await sleep(0);
        yielded = performance.now();
      }
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue; // ": keep-alive" comments while the prompt is prefilled
          const data = line.slice(6);
          if (data === "[DONE]") return { finish, usage, stopped: false };
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices && chunk.choices[0];
          if (!choice) continue;
          const text = choice.text !== undefined ? choice.text : (choice.delta && choice.delta.content) || "";
          if (choice.finish_reason) finish = choice.finish_reason;
          if (text) {
            const now = performance.now();
            if (!first) first = now;
            last = now;
            pieces++;
            onText(text);
            readout();
          }
        }
      }
    }
    return { finish, usage, stopped: false };
  } catch (e) {
    if (e.name === "AbortError") return { finish: "stopped", usage, stopped: true };
    throw e;
  } finally {
    state.controller = null;
    ended = true;
    if (first) updateReadout(sent, first, last, usage ? usage.completion_tokens : pieces);
  }
}

function resetReadout() {
  $("ttft").textContent = "…";
  $("tps").textContent = "–";
  $("ntokens").textContent = "0";
}

/** Time to first token, and decode speed: tokens after the first over the time since the first. */
function updateReadout(sent, first, last, tokens) {
  $("ttft").textContent = ((first - sent) / 1000).toFixed(2) + " s";
  $("ntokens").textContent = tokens;
  if (tokens > 1 && last > first) $("tps").textContent = ((tokens - 1) / ((last - first) / 1000)).toFixed(1);
}

function stop() {
  if (state.controller) state.controller.abort();
}

function busy(on) {
  for (const v of ["chat", "completion"]) {
    $(v + "-send").hidden = on;
    $(v + "-stop").hidden = !on;
  }
  $("tab-chat").disabled = on;
  $("tab-completion").disabled = on;
}

// ------------------------------------------------------------------ chat view

function addMessage(role, text) {
  const hint = document.querySelector("#messages .hint");
  if (hint) hint.remove();
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("messages").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

async function sendChat() {
  const text = $("chat-input").value;
  if (!text.trim() || state.controller) return;
  showError("");
  let body;
  try {
    body = samplingFields();
  } catch (e) {
    showError(e.message);
    return;
  }
  const system = $("system").value.trim();
  const messages = (system ? [{ role: "system", content: system }] : []).concat(state.history, [{ role: "user", content: text }]);
  body.messages = messages;
  $("chat-input").value = "";
  addMessage("user", text);
  const reply = addMessage("assistant", "");
  reply.classList.add("streaming");
  let answer = "";
  const paint = () => {
    reply.textContent = answer;
    reply.scrollIntoView({ block: "end" });
  };
  const repaint = throttled(paint);
  busy(true);
  try {
    const r = await stream("v1/chat/completions", body, (t) => {
      answer += t;
      repaint();
    });
    paint();
    state.history.push({ role: "user", content: text }, { role: "assistant", content: answer });
    if (r.stopped || r.finish === "length") {
      const note = document.createElement("span");
      note.className = "note";
      note.textContent = r.stopped ? "stopped" : "cut at max tokens";
      reply.appendChild(note);
    }
  } catch (e) {
    paint();
    showError(e.message);
    if (!answer) reply.remove();
  } finally {
    reply.classList.remove("streaming");
    busy(false);
  }
}

// ------------------------------------------------------------------ completion view

async function sendCompletion() {
  const prompt = $("prompt").value;
  if (!prompt || state.controller) return;
  showError("");
  let body;
  try {
    body = samplingFields();
  } catch (e) {
    showError(e.message);
    return;
  }
  body.prompt = prompt;
  const out = $("completion-output");
  out.textContent = "";
  const from = document.createElement("span");
  from.className = "from-prompt";
  from.textContent = prompt;
  const gen = document.createElement("span");
  gen.className = "generated";
  out.append(from, gen);
  out.classList.add("streaming");
  $("completion-status").textContent = "";
  let text = "";
  const paint = () => {
    gen.textContent = text;
    out.scrollTop = out.scrollHeight;
  };
  const repaint = throttled(paint);
  busy(true);
  try {
    const r = await stream("v1/completions", body, (t) => {
      text += t;
      repaint();
    });
    paint();
    $("completion-status").textContent = r.stopped ? "stopped" : r.finish === "length" ? "cut at max tokens"
        : r.finish === "stop" ? "finished" : "";
  } catch (e) {
    paint();
    showError(e.message);
  } finally {
    out.classList.remove("streaming");
    busy(false);
  }
}

function continueFromOutput() {
  const gen = document.querySelector("#completion-output .generated");
  if (gen) $("prompt").value += gen.textContent;
}

// ------------------------------------------------------------------ wiring

$("tab-chat").addEventListener("click", () => showView("chat", true));
$("tab-completion").addEventListener("click", () => showView("completion", true));
$("chat-form").addEventListener("submit", (e) => { e.preventDefault(); sendChat(); });
$("chat-input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendChat(); }
});
$("chat-stop").addEventListener("click", stop);
$("chat-clear").addEventListener("click", () => {
  state.history = [];
  $("messages").replaceChildren();
});
$("completion-send").addEventListener("click", sendCompletion);
$("completion-stop").addEventListener("click", stop);
$("completion-continue").addEventListener("click", continueFromOutput);
$("format").addEventListener("change", () => { $("schema-box").hidden = $("format").value !== "json_schema"; });
$("key-button").addEventListener("click", async () => { if (await askKey()) loadModel(); });

showView(sessionStorage.getItem("grok1j.view") || "chat");
loadModel();
