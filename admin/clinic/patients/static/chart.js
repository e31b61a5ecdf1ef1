// Case-note drafts: autosave to the server, keep the text in the browser when that fails.
// Progressive enhancement: the form works without this module (plain POST).
const form = document.querySelector("[data-note-form]");

if (form) {
  const key = form.dataset.draftKey;
  const url = form.dataset.draftUrl;
  const status = form.querySelector("[data-draft-status]");
  const fields = [...form.querySelectorAll("textarea")];
  const say = (text) => { if (status) status.textContent = text; };

  const snapshot = () => Object.fromEntries(fields.map((f) => [f.name, f.value]));
  const keep = () => {
    try { localStorage.setItem(key, JSON.stringify(snapshot())); } catch (e) { /* storage full or off */ }
  };

  // the page after a successful save no longer has a note to restore
  if (document.querySelector(".flash.success")) {
    try {
      localStorage.removeItem(key);
      if (form.dataset.clearKey) localStorage.removeItem(form.dataset.clearKey);
    } catch (e) { /* ignore */ }
  }

  // Text kept in this browser when a save did not reach the server: put it back.
  try {
    const kept = JSON.parse(localStorage.getItem(key) || "null");
    if (kept) {
      let restored = false;
      for (const f of fields) {
        if (kept[f.name] && kept[f.name] !== f.value) { f.value = kept[f.name]; restored = true; }
      }
      if (restored) say("Your unsaved text was restored from this browser. Save to keep it.");
    }
  } catch (e) { /* ignore */ }

  let timer = null;
  const save = async () => {
    keep();
    if (!url) { say("Draft kept in this browser."); return; }
    const body = new FormData(form);
    let resp;
    try {
      resp = await fetch(url, { method: "POST", body, credentials: "same-origin",
        headers: { Accept: "application/json" } });
    } catch (e) {
      say("Could not reach the server; your text is kept in this browser.");
      return;
    }
    // signed out: the server sends the request on to the sign-in page
    const text = await resp.text(); // read it all: a half-read answer would be aborted later
    if (resp.redirected || resp.status === 401 || resp.status === 400) {
      say("Your session has ended: sign in again; your text is kept.");
      return;
    }
    if (!resp.ok) { say("Draft not saved; your text is kept in this browser."); return; }
    const data = JSON.parse(text);
    if (data.version) {
      const v = form.querySelector("[name=expected_version]");
      if (v) v.value = String(data.version);
    }
    say(data.saved ? "Draft saved." : "No changes to save.");
  };

  form.addEventListener("input", () => {
    keep();
    clearTimeout(timer);
    timer = setTimeout(save, 2000);
  });
  form.addEventListener("submit", () => { keep(); });
}
