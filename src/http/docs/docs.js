// Renders the OpenAPI document next to this page: operations grouped by tag, with
// their request bodies, responses and the schemas they use. Built with DOM calls
// only (no innerHTML), so text from the document can never become markup.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function refName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array" && schema.items) return refName(schema.items) + "[]";
  return schema.type || "";
}

function render(spec) {
  const main = document.getElementById("content");
  document.getElementById("summary").textContent = (spec.info.description || "") + " Version " + spec.info.version + ".";
  const schemes = (spec.components && spec.components.securitySchemes) || {};
  for (const [name, s] of Object.entries(schemes)) {
    main.append(el("h2", {}, "Authentication"), el("p", {}, el("code", {}, name + ": " + s.scheme), " — ", s.description || ""));
  }
  const byTag = {};
  for (const [path, ops] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags && op.tags[0]) || "other";
      (byTag[tag] = byTag[tag] || []).push([method, path, op]);
    }
  }
  const tagDesc = Object.fromEntries((spec.tags || []).map((t) => [t.name, t.description]));
  for (const [tag, list] of Object.entries(byTag)) {
    main.append(el("h2", {}, tag), el("p", { class: "muted" }, tagDesc[tag] || ""));
    for (const [method, path, op] of list) {
      const card = el("section", { class: "op" }, el("span", { class: "method" }, method.toUpperCase()), el("span", { class: "path" }, path));
      const text = [op.summary, op.description].filter(Boolean).join(" ");
      if (text) card.append(el("p", { class: "desc" }, text));
      const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
      if (body) card.append(el("p", {}, "Body: ", el("code", {}, refName(body.schema))));
      const codes = Object.entries(op.responses || {}).map(([code, r]) => {
        const c = r.content && r.content["application/json"];
        return code + (c ? " " + refName(c.schema) : "");
      });
      card.append(el("p", { class: "muted" }, "Responses: " + codes.join(", ")));
      main.append(card);
    }
  }
  main.append(el("h2", {}, "Schemas"));
  for (const [name, schema] of Object.entries((spec.components && spec.components.schemas) || {})) {
    main.append(el("h3", { id: "schema-" + name }, name), el("pre", {}, JSON.stringify(schema, null, 2)));
  }
}

fetch(new URL("../openapi.json", document.baseURI).href)
  .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
  .then(render)
  .catch((e) => { document.getElementById("summary").textContent = "Could not load openapi.json: " + e.message; });
