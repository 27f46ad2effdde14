// The chat page: sends each message to POST /v1/chat and reads the server-sent events as they stream in
// (constraints, each item, each description, then the whole answer); like/dislike send POST /v1/feedback.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { conversationId: null };
$("key").value = localStorage.getItem("ragrec-key") || "";
$("user").value = localStorage.getItem("ragrec-user") || "";
$("key").addEventListener("change", () => localStorage.setItem("ragrec-key", $("key").value));
$("user").addEventListener("change", () => {
  localStorage.setItem("ragrec-user", $("user").value);
  state.conversationId = null; // a new user starts a new conversation
});

function headers() {
  const h = { "Content-Type": "application/json" };
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
  return h;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function problemText(response) {
  try { const p = await response.json(); return p.detail || p.title || response.statusText; }
  catch { return response.statusText; }
}

// Server-sent events over a POST body: EventSource can only GET and cannot send the key.
async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (!data) continue;
      let parsed;
      try { parsed = JSON.parse(data); }
      catch { throw new Error("the answer arrived garbled (a proxy between here and the server?)"); }
      yield { event, data: parsed };
    }
  }
}

// "Bug's Life, A (1998)" as a person writes it: "A Bug's Life (1998)"
const shownTitle = (t) => t.replace(/^(.*), (The|A|An) (\(\d{4}\))$/, "$2 $1 $3");

// how the server's template sentences name an item (prompts.display_title, then the payload's year):
// "Misérables, Les (1995)" -> "Les Misérables (1995)"
function sentenceTitle(item) {
  const bare = String(item.payload.title || "").trim().replace(/\s*\((\d{4})(?:[–-]\d{0,4})?\)\s*$/, "");
  const m = bare.match(/^(.*), (The|A|An|Les|La|Le|Il|El|Das|Der|Die)$/);
  const name = m ? `${m[2]} ${m[1]}` : bare;
  return Number.isInteger(item.payload.year) ? `${name} (${item.payload.year})` : name;
}

function card(item, turn) {
  const node = $("card").content.firstElementChild.cloneNode(true);
  node.dataset.itemId = item.item_id;
  node.dataset.named = sentenceTitle(item);
  const title = item.payload.title || item.text?.split("\n")[0] || item.item_id;
  node.querySelector(".title").textContent = shownTitle(title);
  const meta = [item.payload.year, (item.payload.genres || []).join(", ")].filter(Boolean).join(" · ");
  node.querySelector(".meta").textContent = meta;
  const liked = (item.evidence || []).filter((e) => e.kind === "liked").map((e) => shownTitle(e.title || e.item_id));
  const popular = (item.evidence || []).find((e) => e.kind === "popular");
  node.querySelector(".evidence").textContent = liked.length ? "because you liked " + liked.join(" and ")
    : popular ? `popular with ${popular.users} user${popular.users === 1 ? "" : "s"}` : "";
  for (const [cls, type] of [["like", "like"], ["dislike", "dislike"]]) {
    node.querySelector("." + cls).addEventListener("click", (ev) => feedback(item.item_id, type, turn, ev.target));
  }
  return node;
}

// A template description is "[Because you liked X: ]Title (year), a ... movie about ...": the card shows the title,
// and the reason on its evidence line, so it keeps what follows the title ("A crime movie about ...").
function shownDescription(node, description, source) {
  if (source !== "template" || !description || !node.dataset.named) return description || "";
  const named = node.dataset.named + ", ";
  let at = description.startsWith(named) ? 0 : description.indexOf(": " + named);
  if (at < 0) return description; // not the template's shape: shown as it is
  if (at > 0) at += 2; // after the reason's ": "
  const rest = description.slice(at + named.length);
  return rest.charAt(0).toUpperCase() + rest.slice(1);
}

function describe(node, description, source) {
  const d = node.querySelector(".description");
  d.textContent = shownDescription(node, description, source);
  d.classList.remove("pending");
  d.classList.toggle("template", source !== "llm");
  d.title = {
    llm: "written by the LLM for you, checked against the item's data",
    catalog: "the item's catalog description (written once by the LLM, checked) after why it is here",
  }[source] || "written from a template";
}

async function feedback(itemId, type, turn, button) {
  const user = $("user").value.trim();
  if (!user) { alert("Enter a user id first: feedback belongs to a user."); return; }
  if (button.disabled || button.classList.contains("sent")) return; // a double click is one event
  button.disabled = true;
  const event = { user_id: user, item_id: itemId, type };
  if (turn.recommendationId) event.recommendation_id = turn.recommendationId;
  try {
    const body = JSON.stringify({ events: [event] });
    const r = await fetch("/v1/feedback", { method: "POST", headers: headers(), body });
    if (!r.ok) { alert("feedback failed: " + (await problemText(r))); return; }
    const result = await r.json(); // a 200 can still refuse the event: {"accepted": 0, "rejected": [{reason}]}
    if (result.accepted || result.duplicates) {
      button.classList.add("sent");
      // one opinion per card: a like and a dislike of one item would cancel out in the user's vector
      for (const other of button.parentElement.querySelectorAll("button")) {
        if (other !== button) { other.disabled = true; other.title = "you sent a " + type + " for this item"; }
      }
    }
    else alert("feedback refused: " + (result.rejected?.[0]?.reason || "no reason given"));
  } catch (err) {
    alert("feedback failed: " + err.message);
  } finally {
    button.disabled = false;
  }
}

$("ask").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const message = $("message").value.trim();
  if (!message) return;
  $("message").value = "";
  $("send").disabled = true;
  const section = el("section", "turn");
  section.append(el("p", "you", message));
  const chips = el("div", "chips"), answer = el("p", "answer", "thinking…"), cards = el("div", "cards");
  section.append(chips, answer, cards);
  $("log").append(section);
  section.scrollIntoView({ behavior: "smooth", block: "end" });
  const turn = { recommendationId: null };
  let finished = false; // the "done" event arrived: a stream that ends without it was cut off
  const body = { message, stream: true, k: 6 };
  if (state.conversationId) body.conversation_id = state.conversationId;
  if ($("user").value.trim()) body.user_id = $("user").value.trim();
  try {
    let r = await fetch("/v1/chat", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (r.status === 404 && body.conversation_id) { // the conversation expired: start a new one
      delete body.conversation_id;
      r = await fetch("/v1/chat", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    }
    if (!r.ok) throw new Error(await problemText(r));
    for await (const { event, data } of sse(r)) {
      if (event === "constraints") {
        state.conversationId = data.conversation_id;
        chips.replaceChildren(...data.chips.map((c) => el("span", "chip", c)));
        answer.textContent = "";
      } else if (event === "item") {
        turn.recommendationId = data.recommendation_id; // a like sent while descriptions stream quotes it too
        const node = card(data.item, turn);
        cards.append(node);
        node.scrollIntoView({ behavior: "smooth", block: "nearest" });
      } else if (event === "description") {
        const node = cards.querySelector(`[data-item-id="${CSS.escape(data.item_id)}"]`);
        if (node) describe(node, data.description, data.description_source);
      } else if (event === "done") {
        finished = true;
        turn.recommendationId = data.recommendation_id;
        answer.textContent = data.items.length ? data.answer.split("\n")[0] : data.answer;
        for (const item of data.items) {
          const node = cards.querySelector(`[data-item-id="${CSS.escape(item.item_id)}"]`);
          if (node && item.description) describe(node, item.description, item.description_source);
          else if (node) describe(node, "", null);
        }
      } else if (event === "error") { // the turn failed after the stream started: a problem-details object
        throw new Error(data.detail || data.title);
      }
    }
    if (!finished) throw new Error("the answer was cut off before it finished; ask again");
  } catch (err) {
    answer.textContent = "Error: " + (err instanceof TypeError ? "the server could not be reached (" + err.message
      + ")" : err.message);
    answer.classList.add("error");
    for (const pending of cards.querySelectorAll(".description.pending")) describe(pending.parentElement, "", null);
  } finally {
    $("send").disabled = false;
    $("message").focus();
  }
});
