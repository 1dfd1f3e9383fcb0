"use strict";
// A minimal OpenAPI viewer: lists every operation of /swagger/doc.json with
// its summary, security and responses. Kept self-contained on purpose.
(async () => {
  const root = document.getElementById("ops");
  const doc = await (await fetch("/swagger/doc.json")).json();
  root.textContent = "";
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const box = el("details", "op");
      const sum = el("summary");
      sum.append(el("span", "method " + method, method), el("code", "", (doc.servers?.[0]?.url || "") + path), " ", op.summary || "");
      box.append(sum);
      if (op.description) box.append(el("p", "", op.description));
      box.append(el("p", "", op.security && op.security.length ? "Requires a session token." : "No authentication."));
      const ul = el("ul");
      for (const [code, resp] of Object.entries(op.responses || {})) {
        ul.append(el("li", "", code + ": " + (resp.description || "")));
      }
      box.append(ul);
      root.append(box);
    }
  }
})();
