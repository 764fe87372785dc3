/* The search page: asks /api/search and shows verbatim, cited passages. Data only ever enters the page as text. */
"use strict";

(function () {
  const body = document.body;
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const notice = document.getElementById("notice");
  const results = document.getElementById("results");
  const fullLink = document.getElementById("full-link");
  const apiUrl = body.dataset.api || "/api/search";
  const maxK = Number(body.dataset.maxK) || 20;
  const baseTitle = document.title;
  let latest = 0;
  let controller = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function requestedK() {
    const raw = new URLSearchParams(window.location.search).get("k");
    const k = raw === null || raw.trim() === "" ? NaN : Number(raw);
    if (Number.isInteger(k) && k >= 1 && k <= maxK) return k;
    const fallback = Number(body.dataset.defaultK);
    return Number.isInteger(fallback) && fallback >= 1 ? fallback : null;
  }

  /* Highlight spans as sorted, clamped, non-overlapping [start, end) pairs; malformed ones are dropped. */
  function cleanSpans(text, spans) {
    const sorted = (Array.isArray(spans) ? spans : [])
      .filter((s) => Array.isArray(s) && Number.isInteger(s[0]) && Number.isInteger(s[1]))
      .map((s) => [Math.max(0, s[0]), Math.min(text.length, s[1])])
      .filter((s) => s[0] < s[1])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const clean = [];
    for (const [start, end] of sorted) {
      const last = clean[clean.length - 1];
      if (last && start < last[1]) last[1] = Math.max(last[1], end);
      else clean.push([start, end]);
    }
    return clean;
  }

  /* text[from, to) as text nodes, with the parts inside SPANS wrapped in <mark>. */
  function highlighted(text, spans, from, to) {
    const fragment = document.createDocumentFragment();
    let position = from;
    for (const [spanStart, spanEnd] of spans) {
      const start = Math.max(spanStart, position);
      const end = Math.min(spanEnd, to);
      if (start >= end) continue;
      if (start > position) fragment.append(document.createTextNode(text.slice(position, start)));
      fragment.append(el("mark", "", text.slice(start, end)));
      position = end;
    }
    if (position < to) fragment.append(document.createTextNode(text.slice(position, to)));
    return fragment;
  }

  /* The answering sentence as a clamped [start, end) pair, or null when ANSWER is absent or malformed. */
  function cleanAnswer(text, answer) {
    if (!Array.isArray(answer) || answer.length !== 2 || !answer.every(Number.isInteger)) return null;
    const start = Math.max(0, answer[0]);
    const end = Math.min(text.length, answer[1]);
    return start < end ? [start, end] : null;
  }

  /* text[from, to) with highlights, and the part inside ANSWER wrapped in <strong class="answer">. */
  function lineContent(text, spans, answer, from, to) {
    const start = answer ? Math.max(answer[0], from) : to;
    const end = answer ? Math.min(answer[1], to) : to;
    if (start >= end) return highlighted(text, spans, from, to);
    const fragment = document.createDocumentFragment();
    const strong = el("strong", "answer");
    strong.append(highlighted(text, spans, start, end));
    fragment.append(highlighted(text, spans, from, start), strong, highlighted(text, spans, end, to));
    return fragment;
  }

  /* The passage verbatim: one block per line (list items get a hanging indent); textContent equals TEXT. */
  function passage(text, spans, answer) {
    const quote = el("blockquote", "passage");
    const clean = cleanSpans(text, spans);
    let offset = 0;
    text.split("\n").forEach((line, index) => {
      if (index > 0) quote.append(document.createTextNode("\n"));
      const row = el("span", /^\s*[•◦▪‣\-–*]\s/.test(line) ? "line item" : "line");
      row.append(lineContent(text, clean, answer, offset, offset + line.length));
      quote.append(row);
      offset += line.length + 1;
    });
    return quote;
  }

  function safeUrl(value) {
    if (!value) return null;
    try {
      const url = new URL(String(value));
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (error) {
        /* blocked (permissions, iframe policy): try the selection fallback */
      }
    }
    const previous = document.activeElement;
    const area = el("textarea", "clipboard-helper");
    area.value = text;
    area.setAttribute("readonly", "");
    area.setAttribute("aria-hidden", "true");
    area.tabIndex = -1;
    body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    if (previous && typeof previous.focus === "function") previous.focus();
    return copied;
  }

  function citationBlock(citation, headingId, text, answer) {
    const footer = el("footer", "citation");
    const line = el("p", "cite");
    line.append(el("span", "cite-label", "Source: "), el("cite", "", citation.title || "The guide"));
    const details = [citation.publisher, citation.reviewed ? "reviewed " + citation.reviewed : ""].filter(Boolean);
    if (details.length) line.append(document.createTextNode(", " + details.join(", ")));
    const href = safeUrl(citation.url);
    if (href) {
      const link = el("a", "cite-link", "Read the guide");
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.append(el("span", "visually-hidden", " (opens in a new tab)"));
      line.append(document.createTextNode(" "), link);
    }
    const actions = el("div", "actions");
    const status = el("span", "copy-status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    let timer = null;
    /* What is copied: the verbatim quote, a blank line, then the ready-to-paste citation. */
    const copyButton = (label, quote) => {
      const button = el("button", "copy", label);
      button.type = "button";
      button.setAttribute("aria-describedby", headingId);
      button.addEventListener("click", async () => {
        const cite = String(citation.text || "");
        const text = cite === "" ? "" : quote + "\n\n" + cite;
        const copied = text !== "" && (await copyText(text));
        status.textContent = copied ? "Copied" : "Copy failed. Citation: " + cite;
        status.classList.toggle("failed", !copied);
        window.clearTimeout(timer);
        if (copied) timer = window.setTimeout(() => { status.textContent = ""; }, 4000);
      });
      return button;
    };
    if (answer) actions.append(copyButton("Copy sentence", text.slice(answer[0], answer[1])));
    actions.append(copyButton("Copy passage", text), status);
    footer.append(line, actions);
    return footer;
  }

  function card(result, position) {
    const item = el("li", "result");
    const article = el("article", "card");
    const headingId = "result-" + position;
    const heading = el("h2", "section", result.section || (result.citation && result.citation.title) || "Passage");
    heading.id = headingId;
    article.setAttribute("aria-labelledby", headingId);
    article.append(heading);
    if (result.low_confidence) article.append(el("p", "badge", "Weak match"));
    const text = String(result.text || "");
    const answer = cleanAnswer(text, result.answer);
    article.append(passage(text, result.highlights, answer), citationBlock(result.citation || {}, headingId, text, answer));
    item.append(article);
    return item;
  }

  function showNotice(data) {
    if (data && data.notice && data.notice.text) {
      notice.replaceChildren(el("strong", "notice-label", "Urgent"), el("span", "notice-text", data.notice.text));
      notice.hidden = false;
    } else {
      notice.hidden = true;
      notice.replaceChildren();
    }
  }

  function showMessage(text, className) {
    showNotice(null);
    results.replaceChildren(el("p", className || "message", text));
  }

  function render(data, query) {
    showNotice(data);
    const items = Array.isArray(data.results) ? data.results : [];
    const summary = el("p", "summary");
    const count = items.length === 1 ? "1 passage" : items.length + " passages";
    summary.append(document.createTextNode(data.answered ? count + " from the guide for " : "You searched for "));
    summary.append(el("strong", "query", query));
    const nodes = [summary];
    if (data.phrase_matched === false && items.length) {
      // Words quoted in passing that no passage holds: say so, as search engines do, then show the closest.
      const quoted = Array.from(query.matchAll(/["“”]([^"“”]+)["“”]/g), (m) => "“" + m[1].trim() + "”");
      nodes.push(el("p", "phrase-fallback", "No passage has the exact words " + quoted.join(" and ") +
        "; showing the closest."));
    }
    if (data.message) nodes.push(el("p", "message", data.message));
    else if (!items.length) nodes.push(el("p", "message", "No passages found."));
    if (items.length) {
      const list = el("ol", "list");
      items.forEach((result, index) => list.append(card(result, index + 1)));
      nodes.push(list);
    }
    results.replaceChildren(...nodes);
  }

  async function search(query) {
    const ticket = ++latest;
    if (controller) controller.abort();
    controller = new AbortController();
    const params = new URLSearchParams({ q: query });
    const k = requestedK();
    if (k !== null) params.set("k", String(k));
    results.setAttribute("aria-busy", "true");
    const slow = window.setTimeout(() => { if (ticket === latest) showMessage("Searching…", "pending"); }, 300);
    try {
      const response = await fetch(apiUrl + "?" + params.toString(), {
        headers: { Accept: "application/json" }, credentials: "same-origin", signal: controller.signal,
      });
      const data = await response.json().catch(() => null);
      if (ticket !== latest) return;
      if (!response.ok || !data) {
        const reason = data && data.error && data.error.message;
        showMessage(reason || "The search failed (HTTP " + response.status + "). Please try again.", "error");
      } else {
        render(data, query);
      }
    } catch (error) {
      if (error && error.name === "AbortError") return;
      if (ticket === latest) showMessage("The search service could not be reached. Please try again.", "error");
    } finally {
      window.clearTimeout(slow);
      if (ticket === latest) results.removeAttribute("aria-busy");
    }
  }

  function remember(query) {
    const url = new URL(window.location.href);
    url.searchParams.set("q", query);
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    document.title = query + " – " + baseTitle;
    if (fullLink) {
      const full = new URL(body.dataset.full || "/", window.location.href);
      full.searchParams.set("q", query);
      fullLink.href = full.pathname + full.search;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = input.value.trim();
    if (!query) {
      showMessage("Type a question first.", "error");
      input.focus();
      return;
    }
    remember(query);
    search(query);
  });

  const initial = (new URLSearchParams(window.location.search).get("q") || "").trim();
  if (initial) {
    input.value = initial;
    remember(initial);
    search(initial);
  }
})();
