"use strict";
// Signs in with email and password, then creates a CLI session key
// (POST /api/v2/users/me/keys) and shows it. The password session is only
// used for that one request.
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const errorEl = document.getElementById("error");
  errorEl.hidden = true;
  const fail = (msg) => { errorEl.textContent = msg; errorEl.hidden = false; };
  const readError = async (resp) => {
    try { const b = await resp.json(); return b.message + (b.detail ? " " + b.detail : ""); }
    catch { return "HTTP " + resp.status; }
  };
  try {
    const login = await fetch("/api/v2/users/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: form.email.value, password: form.password.value }),
    });
    if (!login.ok) { fail(await readError(login)); return; }
    const session = (await login.json()).session_token;
    const key = await fetch("/api/v2/users/me/keys", {
      method: "POST",
      headers: { "Coder-Session-Token": session },
    });
    if (!key.ok) { fail(await readError(key)); return; }
    document.getElementById("token").textContent = (await key.json()).key;
    document.getElementById("result").hidden = false;
    form.hidden = true;
  } catch (e) {
    fail(String(e));
  }
});
