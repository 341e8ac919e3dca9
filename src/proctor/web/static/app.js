// proctor web interface: forms that answer in place, a run page that follows its run, keyboard shortcuts.
// No inline scripts anywhere (the Content-Security-Policy forbids them); everything is wired up from here.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf"]').content;
  const body = () => document.getElementById("run-body");
  let version = null;
  let pending = false;

  function toast(text, bad) {
    const el = document.getElementById("toast");
    el.textContent = text;
    el.className = bad ? "toast bad" : "toast";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 2500);
  }

  // Forms marked data-inline post with fetch and show errors next to themselves.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-inline")) return;
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const error = form.querySelector(".form-error");
    if (error) error.textContent = "";
    const data = new FormData(form, event.submitter || undefined);
    let answer;
    try {
      const response = await fetch(form.getAttribute("action"), {  // not form.action: a field may be named "action"
        method: "POST",
        body: data,
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf() },
        credentials: "same-origin",
      });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
    } catch (failure) {
      if (error) error.textContent = failure.message; else toast(failure.message, true);
      return;
    }
    const here = body();
    const inStep = form.closest(".step");
    if (answer.location) {
      window.location.assign(answer.location);
    } else if (work()) {
      if (form.hasAttribute("data-reset")) form.reset();
      await refreshWork();
    } else if (here && answer.forked_from) {
      window.location.assign("/runs/" + encodeURIComponent(answer.run_id));
    } else if (here && inStep && (answer.tag || form.classList.contains("rate"))) {
      toast(answer.tag ? "tagged " + answer.tag : "saved");
      await reloadStep(inStep, false);  // in place, nested subtasks too: the page stays where it is
    } else if (here) {
      toast(answer.tag ? "tagged " + answer.tag : "saved");
      await refresh(true);
    } else {
      window.location.reload();
    }
  });

  // The run page holds a window of its steps (#steps, data-start ≤ index < data-stop of data-total): it fetches
  // more as you scroll to either end or jump to a step (the map, the jump box, #step-N), unfolds subtasks and
  // "messages the model saw" on demand, and follows new steps while you are at the end.
  const steps = () => document.getElementById("steps");
  let loading = false;

  function typing() {
    const el = document.activeElement;
    return el && body() && body().contains(el) && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") && el.value !== "" && el.type !== "hidden";
  }

  async function fragment(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (!response.ok) throw new Error((await response.text()).slice(0, 200) || response.statusText);
    const html = await response.text();
    const range = document.createRange();
    range.selectNodeContents(document.body);
    return {
      nodes: range.createContextualFragment(html),
      start: Number(response.headers.get("X-Steps-Start")),
      stop: Number(response.headers.get("X-Steps-Stop")),
      total: Number(response.headers.get("X-Steps-Total")),
    };
  }

  function stepsUrl(query) {
    return "/runs/" + encodeURIComponent(steps().dataset.run) + "/steps?" + query;
  }

  // The steps at the top of a fetched fragment (`:scope` matches nothing in a DocumentFragment).
  function topSteps(nodes) {
    return [...nodes.children].filter((el) => el.classList.contains("step"));
  }

  // Steps fetched again replace those in the page (a poll and a scroll may fetch the same step).
  function dropLoaded(list, nodes) {
    topSteps(nodes).forEach((el) => {
      const old = list.querySelector(':scope > .step[data-step="' + el.dataset.step + '"]');
      if (old) old.remove();
    });
  }

  function setWindow(start, stop, total) {
    const list = steps();
    list.dataset.start = String(start);
    list.dataset.stop = String(stop);
    list.dataset.total = String(total);
  }

  async function loadAfter() {
    const list = steps();
    if (!list || loading || Number(list.dataset.stop) >= Number(list.dataset.total)) return;
    loading = true;
    try {
      const got = await fragment(stepsUrl("start=" + list.dataset.stop));
      const intervene = document.getElementById("intervene");
      if (intervene && got.nodes.querySelector("#intervene")) intervene.remove();
      dropLoaded(list, got.nodes);
      list.append(got.nodes);
      setWindow(Number(list.dataset.start), got.stop, got.total);
    } finally { loading = false; }
  }

  async function loadBefore() {
    const list = steps();
    if (!list || loading || Number(list.dataset.start) <= 0) return;
    loading = true;
    try {
      const start = Math.max(0, Number(list.dataset.start) - pageSize());
      const got = await fragment(stepsUrl("start=" + start + "&stop=" + list.dataset.start));
      const first = list.querySelector(":scope > .step");
      const before = first ? first.getBoundingClientRect().top : 0;
      list.prepend(got.nodes);
      if (first) window.scrollBy(0, first.getBoundingClientRect().top - before);  // what you read stays put
      setWindow(start, Number(list.dataset.stop), got.total);
    } finally { loading = false; }
  }

  function pageSize() {
    return Math.max(1, Number(steps().dataset.size || 40));
  }

  function focusStep(el) {
    items().forEach((other) => other.classList.remove("focused"));
    el.classList.add("focused");
    el.scrollIntoView({ block: "start" });
  }

  // Show step `index` (and, with `then`, an element after it such as #intervene): from the loaded window if it
  // holds it, else the window around it replaces what is loaded.
  async function jump(index, then) {
    const list = steps();
    if (!list) return;
    const total = Number(list.dataset.total);
    if (!total) return;
    index = Math.max(0, Math.min(Number(index), total - 1));
    let el = document.getElementById("step-" + index);
    if (!el) {
      loading = true;
      try {
        const got = await fragment(stepsUrl("at=" + index));
        list.replaceChildren(got.nodes);
        setWindow(got.start, got.stop, got.total);
      } catch (failure) { toast(failure.message, true); return; } finally { loading = false; }
      el = document.getElementById("step-" + index);
    }
    const target = (then && document.getElementById(then)) || el;
    if (target) {
      if (target === el) focusStep(el); else target.scrollIntoView({ block: "start" });
      history.replaceState(null, "", "#" + target.id);
    }
  }

  // One step again from the server (after rating or tagging it, or uncut with `full`), in place.
  async function reloadStep(el, full) {
    const query = "start=" + el.dataset.step + "&stop=" + (Number(el.dataset.step) + 1) + "&depth=" + el.dataset.depth + (full ? "&full=true" : "");
    const open = openDetails(el);
    const got = await fragment("/runs/" + encodeURIComponent(el.dataset.run) + "/steps?" + query);
    const fresh = got.nodes.querySelector(".step");
    if (!fresh) return;
    const wasFocused = el.classList.contains("focused");
    el.replaceWith(fresh);
    restoreDetails(fresh, open);
    fresh.querySelectorAll("details[open][data-src]").forEach(load);
    if (wasFocused) fresh.classList.add("focused");
  }

  function openDetails(root) {
    return {
      open: new Set([...root.querySelectorAll("details[open][data-key]")].map((d) => d.dataset.key)),
      closed: new Set([...root.querySelectorAll("details[data-key]:not([open])")].map((d) => d.dataset.key)),
    };
  }

  function restoreDetails(root, state) {
    root.querySelectorAll("details[data-key]").forEach((d) => {
      if (state.open.has(d.dataset.key)) d.open = true;
      if (state.closed.has(d.dataset.key)) d.open = false;
    });
  }

  // A <details data-src> loads its content the first time it is unfolded (a subtask's steps, the messages).
  async function load(details) {
    if (details.dataset.loaded) return;
    details.dataset.loaded = "1";
    const slot = details.querySelector(":scope > .lazy");
    try {
      const got = await fragment(details.dataset.src);
      slot.replaceChildren(got.nodes);
    } catch (failure) {
      delete details.dataset.loaded;
      slot.textContent = failure.message;
    }
  }

  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (details instanceof HTMLDetailsElement && details.open && details.dataset.src) load(details);
  }, true);

  document.addEventListener("click", async (event) => {
    const expand = event.target.closest("[data-expand]");
    if (expand && expand.closest(".step")) { event.preventDefault(); await reloadStep(expand.closest(".step"), true); return; }
    const more = event.target.closest("[data-more]");
    if (more) {
      event.preventDefault();
      try { more.replaceWith((await fragment(more.dataset.more)).nodes); } catch (failure) { toast(failure.message, true); }
      return;
    }
    const link = event.target.closest("a[data-jump]");
    if (link && steps() && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      await jump(link.dataset.jump, link.dataset.then);
      const subtask = link.dataset.subtask && document.querySelector('details.subtask[data-key="sub-' + link.dataset.subtask + '"]');
      if (subtask) { subtask.open = true; subtask.scrollIntoView({ block: "start" }); }  // a subtask's cell unfolds it
    }
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-jump-form") || !steps()) return;
    event.preventDefault();
    const value = form.querySelector("input[name=at]").value;
    if (value !== "") jump(value);
  });

  window.addEventListener("hashchange", () => {
    const match = /^#step-(\d+)$/.exec(window.location.hash);
    if (match && steps()) jump(match[1]);
  });

  // The steps already in the page, fetched again a page at a time up to `upTo` (a rating, a tag or a choice may
  // have changed them), each swapped in place with its folds as they were.
  async function refreshLoaded(list, upTo) {
    const size = pageSize();
    for (let from = Number(list.dataset.start); from < upTo; from += size) {
      const got = await fragment(stepsUrl("start=" + from + "&stop=" + Math.min(from + size, upTo)));
      topSteps(got.nodes).forEach((fresh) => {
        const old = list.querySelector(':scope > .step[data-step="' + fresh.dataset.step + '"]');
        if (!old) return;
        const open = openDetails(old);
        const wasFocused = old.classList.contains("focused");
        old.replaceWith(fresh);
        restoreDetails(fresh, open);
        fresh.querySelectorAll("details[open][data-src]").forEach(load);
        if (wasFocused) fresh.classList.add("focused");
      });
    }
  }

  function atEnd() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  }

  // The run changed: the top (head, map) is swapped in; if the loaded window reaches the run's end, its last
  // step is fetched again with any new ones; the page follows them unless you have scrolled up.
  async function refresh(force) {
    const here = body();
    if (!here) return;
    if (!force && typing()) { pending = true; here.classList.add("stale"); return; }
    const top = document.getElementById("run-top");
    const list = steps();
    const follow = atEnd();
    const url = "/runs/" + encodeURIComponent(here.dataset.run) + "/tree?part=top";
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const state = openDetails(top);
    top.innerHTML = await response.text();
    restoreDetails(top, state);
    const head = top.querySelector(".run-head");
    version = head ? head.dataset.version : version;
    const atRunEnd = list && Number(list.dataset.stop) >= Number(list.dataset.total);
    if (list && head) list.dataset.total = head.dataset.total;  // scrolling down reaches the new steps
    if (list && !loading) {
      const upTo = atRunEnd ? Number(list.dataset.stop) - 1 : Number(list.dataset.stop);
      try { await refreshLoaded(list, upTo); } catch (ignored) { /* the next poll tries again */ }
    }
    if (atRunEnd && !loading) {
      loading = true;
      const from = Math.max(Number(list.dataset.start), Number(list.dataset.stop) - 1);
      let got;
      try { got = await fragment(stepsUrl("start=" + from)); } finally { loading = false; }
      const kept = openDetails(list);
      list.querySelectorAll(":scope > .step").forEach((el) => { if (Number(el.dataset.step) >= from) el.remove(); });
      dropLoaded(list, got.nodes);
      const intervene = document.getElementById("intervene");
      if (intervene) intervene.remove();
      list.append(got.nodes);
      restoreDetails(list, kept);
      setWindow(Number(list.dataset.start), got.stop, got.total);
      const empty = here.querySelector(".empty");
      if (empty && got.total) empty.remove();
      if (follow && !force) window.scrollTo(0, document.documentElement.scrollHeight);
    }
    pending = false;
    here.classList.remove("stale");
  }

  async function poll() {
    const here = body();
    if (!here) return;
    const head = here.querySelector(".run-head");
    const final = head && ["done", "failed", "needs_manual_score"].includes(head.dataset.status);
    if (!document.hidden) {
      try {
        const response = await fetch("/api/runs/" + encodeURIComponent(here.dataset.run) + "/live", { credentials: "same-origin" });
        if (response.ok) {
          const state = await response.json();
          if (version === null) version = head ? head.dataset.version : state.version;
          if (state.version !== version) await refresh(false);
        }
      } catch (ignored) { /* the server restarts: try again next time */ }
    }
    setTimeout(poll, final ? 5000 : 1200);
  }

  // The work page of a person's run: the clock ticks here; the parts marked data-slot are swapped in when the run
  // changes, the forms (and what is typed in them) stay.
  const work = () => document.getElementById("work");

  function clockText(seconds) {
    const whole = Math.max(0, Math.floor(seconds));
    const h = Math.floor(whole / 3600), m = Math.floor(whole / 60) % 60, s = whole % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
  }

  function settleWork() {
    const clock = document.getElementById("clock");
    if (clock) clock.dataset.shownAt = String(performance.now());
    const head = document.querySelector('[data-slot="head"]');
    const act = head && head.dataset.act === "true";
    document.querySelectorAll("fieldset.needs-clock").forEach((set) => { set.disabled = !act; });
  }

  function tick() {
    const clock = document.getElementById("clock");
    if (clock && clock.dataset.running === "true") {
      const since = (performance.now() - Number(clock.dataset.shownAt || performance.now())) / 1000;
      clock.textContent = clockText(Number(clock.dataset.seconds) + since);
    }
  }

  async function refreshWork() {
    const here = work();
    const response = await fetch("/runs/" + encodeURIComponent(here.dataset.run) + "/work", { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const next = fresh.getElementById("work");
    if (!next) return;
    next.querySelectorAll("[data-slot]").forEach((slot) => {
      const old = here.querySelector('[data-slot="' + slot.dataset.slot + '"]');
      if (old) old.replaceWith(document.adoptNode(slot));
    });
    here.dataset.version = next.dataset.version;
    settleWork();
    const log = here.querySelector('[data-slot="log"]');
    if (log) log.scrollTop = log.scrollHeight;
  }

  async function pollWork() {
    const here = work();
    if (!document.hidden) {
      try {
        const response = await fetch("/api/runs/" + encodeURIComponent(here.dataset.run) + "/live", { credentials: "same-origin" });
        if (response.ok && (await response.json()).version !== here.dataset.version) await refreshWork();
      } catch (ignored) { /* the server restarts: try again next time */ }
    }
    setTimeout(pollWork, 1000);
  }

  // Keyboard shortcuts.
  function items() {
    const here = body();
    if (here) return [...here.querySelectorAll(".steps > .step")];
    return [...document.querySelectorAll("[data-list] tbody tr")];
  }

  async function move(delta) {
    let all = items();
    if (!all.length) return;
    let now = all.findIndex((el) => el.classList.contains("focused"));
    if (steps() && now >= 0 && (delta > 0 ? now === all.length - 1 : now === 0)) {
      while (loading) await new Promise((done) => setTimeout(done, 20));  // a scroll may be fetching it already
      await (delta > 0 ? loadAfter() : loadBefore());  // past the loaded window: fetch the next one
      all = items();
      now = all.findIndex((el) => el.classList.contains("focused"));
    }
    const next = all[Math.max(0, Math.min(all.length - 1, now < 0 ? (delta > 0 ? 0 : all.length - 1) : now + delta))];
    all.forEach((el) => el.classList.remove("focused"));
    next.classList.add("focused");
    next.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function focusedStep() {
    const here = body();
    if (!here) return null;
    return here.querySelector(".step.focused") || here.querySelector(".step[data-waiting]") || here.querySelector(".steps > .step:last-of-type");
  }

  function digit(n) {
    const step = focusedStep();
    if (!step) return;
    if (step.hasAttribute("data-waiting")) {
      const form = step.querySelector('form[data-choose="' + (n - 1) + '"]');
      if (form) form.requestSubmit(); else toast("no option " + n, true);
      return;
    }
    const chosen = step.querySelector(":scope > .option.chosen form.rate");
    const button = chosen && chosen.querySelector('button[value="' + n + '"]');
    if (button) chosen.requestSubmit(button); else toast(chosen ? n + " is off the rating scale" : "nothing to rate here", true);
  }

  function toggleHelp(show) {
    const help = document.getElementById("help");
    help.hidden = show === undefined ? !help.hidden : !show;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = event.target.tagName;
    if (event.key === "Escape") { toggleHelp(false); if (event.target.blur) event.target.blur(); return; }
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    const key = event.key;
    if (key === "?") toggleHelp();
    else if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "Enter" && !body()) {
      const row = document.querySelector("[data-list] tbody tr.focused");
      if (row && row.dataset.href) window.location.assign(row.dataset.href); else return;
    } else if (/^[1-9]$/.test(key) && body()) digit(Number(key));
    else if (key === "t" && focusedStep()) {
      const input = focusedStep().querySelector(":scope > .tools form.tag input[name=name]");
      if (input) input.focus();
    } else if (key === "f" && focusedStep()) {
      const fork = focusedStep().querySelector(":scope > .tools details.fork");
      if (fork) { fork.open = true; fork.querySelector("textarea").focus(); }
    } else if (key === "o" && focusedStep()) {
      const others = focusedStep().querySelector(":scope > details.others");
      if (others) others.open = !others.open;
    } else if (key === "r" && body()) refresh(true);
    else if (key === "/") { const search = document.querySelector("[data-search]"); if (search) search.focus(); else return; }
    else return;
    event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-help]")) { toggleHelp(); return; }
    if (event.target.id === "help") { toggleHelp(false); return; }
    const step = event.target.closest(".steps > .step");
    if (step) {
      items().forEach((el) => el.classList.remove("focused"));
      step.classList.add("focused");
    }
    const row = event.target.closest("[data-list] tbody tr[data-href]");
    if (row && !event.target.closest("a, button, form")) window.location.assign(row.dataset.href);
  });

  // The judging page: 1–9 pick an answer, Enter submits, the confidence slider shows its value.
  const judgeForm = () => document.getElementById("judge-form");

  document.addEventListener("input", (event) => {
    if (event.target.id === "confidence") document.getElementById("confidence-out").textContent = event.target.value + "%";
  });

  document.addEventListener("keydown", (event) => {
    const form = judgeForm();
    if (!form || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && !["radio", "range"].includes(target.type))) return;
    if (/^[1-9]$/.test(event.key)) {
      const answer = form.querySelector('input[name=verdict][value="' + (Number(event.key) - 1) + '"]');
      if (!answer) { toast("no answer " + event.key, true); return; }
      answer.checked = true;
      answer.focus();
    } else if (event.key === "Enter") {
      if (target.tagName === "A" || target.tagName === "BUTTON") return;  // their own Enter: follow, press
      form.requestSubmit();
    } else return;
    event.preventDefault();
  });

  function watchEnds() {
    const list = steps();
    if (!list || !("IntersectionObserver" in window)) return;
    const top = document.createElement("div");
    const bottom = document.createElement("div");
    top.className = bottom.className = "sentinel";
    list.before(top);
    list.after(bottom);
    const seen = new IntersectionObserver((entries) => {
      entries.forEach((entry) => {
        if (!entry.isIntersecting) return;
        (entry.target === top ? loadBefore() : loadAfter()).then(() => {
          // still in view after loading (short steps): keep going
          const box = entry.target.getBoundingClientRect();
          if (box.top < window.innerHeight && box.bottom > 0) setTimeout(() => { seen.unobserve(entry.target); seen.observe(entry.target); }, 50);
        });
      });
    }, { rootMargin: "600px 0px" });
    // Only once the page scrolls or you reach for it (a jump to #step-N, the wheel, a key): the first view alone
    // fetches nothing more.
    let watching = false;
    const start = () => {
      if (watching) return;
      watching = true;
      seen.observe(top);
      seen.observe(bottom);
    };
    ["scroll", "wheel", "touchmove", "keydown"].forEach((kind) => window.addEventListener(kind, start, { once: true, passive: true }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (work()) {
      settleWork();
      const log = work().querySelector('[data-slot="log"]');
      if (log) log.scrollTop = log.scrollHeight;
      setInterval(tick, 250);
      setTimeout(pollWork, 1000);
    }
    if (body()) {
      const match = /^#step-(\d+)$/.exec(window.location.hash);
      const target = window.location.hash && document.getElementById(window.location.hash.slice(1));
      if (target && target.classList.contains("step")) target.classList.add("focused");
      else if (match && steps()) jump(match[1]);
      watchEnds();
      setTimeout(poll, 1200);
    }
  });
})();
