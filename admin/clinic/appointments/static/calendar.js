// The console calendar's enhancements; the page works without them.
//
// 1. Live updates: every few seconds ask the clinic's schedule version with If-None-Match;
//    while nothing changed the server answers an empty 304. On a change, fetch the page
//    again and swap the calendar grid in place (focus and scroll kept, change announced).
//    Polling pauses while the tab is hidden.
// 2. Drag to reschedule: drop a held or confirmed visit on a column; after the user
//    confirms, the same reschedule form as the no-JavaScript page is posted.

const live = document.querySelector("[data-live]");

function announce(text) {
  const status = document.querySelector("[data-live-status]");
  if (status) status.textContent = text;
}

function setUpLiveUpdates(root) {
  const url = root.dataset.changesUrl;
  const every = Math.max(1, Number(root.dataset.poll || 3)) * 1000;
  let version = root.dataset.version;
  let timer = null;
  let busy = false;

  async function refresh() {
    const response = await fetch(window.location.href, {
      credentials: "same-origin",
      cache: "no-store",
      keepalive: true, // not cut off (and reported as failed) when the user navigates away
      headers: { Accept: "text/html" },
    });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.querySelector("[data-live-region]");
    const current = root.querySelector("[data-live-region]");
    if (!fresh || !current) return;
    const scroll = [current.scrollLeft, current.scrollTop];
    const focusedHref = document.activeElement && document.activeElement.getAttribute("href");
    current.innerHTML = fresh.innerHTML;
    [current.scrollLeft, current.scrollTop] = scroll;
    if (focusedHref) {
      const again = current.querySelector(`a[href="${CSS.escape(focusedHref)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    const freshRoot = doc.querySelector("[data-live]");
    if (freshRoot) version = freshRoot.dataset.version;
    root.dataset.version = version;
    setUpDragging(current);
    const now = new Date();
    announce(`Calendar updated at ${now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}.`);
  }

  async function poll() {
    if (busy || document.hidden || document.body.dataset.dragging) return schedule();
    busy = true;
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        keepalive: true,
        headers: { "If-None-Match": `"${version}"`, Accept: "application/json" },
      });
      if (response.status === 200) {
        const body = await response.json();
        if (body.version !== version) await refresh();
      }
    } catch (error) {
      // offline for a moment: try again at the next tick
    } finally {
      busy = false;
      schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, every);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll();
  });
  schedule();
}

// -- drag to reschedule ---------------------------------------------------------------------

const ROW_MINUTES = 5;

function formatLocal(date, zone) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "long",
    day: "numeric",
    month: "long",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone: zone,
    timeZoneName: "short",
  }).format(date);
}

function dropInstant(column, event, step) {
  const body = column.querySelector(".cal-body");
  const rows = Number(column.dataset.rows);
  const box = body.getBoundingClientRect();
  const offset = Math.min(Math.max(event.clientY - box.top, 0), box.height - 1);
  const row = Math.floor((offset / box.height) * rows);
  // snap to the clinic's slot step (from the top of the day's first hour); the server
  // checks the visit type's real grid and refuses any other start with a reason
  const minutes = Math.round((row * ROW_MINUTES) / step) * step;
  return new Date(new Date(column.dataset.start).getTime() + minutes * 60000);
}

function post(url, fields) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = url;
  form.hidden = true;
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();
}

function setUpDragging(scope) {
  const grid = scope.querySelector(".cal[data-csrf]");
  if (!grid) return;
  const zone = grid.dataset.zone;
  let dragged = null;

  for (const item of grid.querySelectorAll("a[data-move]")) {
    item.addEventListener("dragstart", (event) => {
      dragged = item;
      document.body.dataset.dragging = "1";
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", item.dataset.label || "");
    });
    item.addEventListener("dragend", () => {
      dragged = null;
      delete document.body.dataset.dragging;
      for (const c of grid.querySelectorAll(".drop-target")) c.classList.remove("drop-target");
    });
  }
  for (const column of grid.querySelectorAll("[data-drop]")) {
    column.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      column.classList.add("drop-target");
    });
    column.addEventListener("dragleave", () => column.classList.remove("drop-target"));
    column.addEventListener("drop", (event) => {
      if (!dragged) return;
      event.preventDefault();
      column.classList.remove("drop-target");
      const item = dragged;
      const start = dropInstant(column, event, Number(grid.dataset.step) || 15);
      const question =
        `Move ${item.dataset.label} to ${formatLocal(start, zone)} ` +
        `with ${column.dataset.practitionerName}?`;
      if (!window.confirm(question)) return;
      const iso = start.toISOString().replace(/\.\d{3}Z$/, "+00:00");
      post(item.dataset.move, {
        csrf_token: grid.dataset.csrf,
        slot: `${iso}|${column.dataset.practitioner}|${item.dataset.location}`,
      });
    });
  }
}

if (live) {
  setUpLiveUpdates(live);
  setUpDragging(live);
}
