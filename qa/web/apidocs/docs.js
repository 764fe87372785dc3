// Renders /openapi.json as plain HTML: no framework, no CDN, nothing inline (the page's CSP forbids it).
"use strict";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function schemaText(schema) {
  return JSON.stringify(schema, null, 2);
}

function renderOperation(path, method, op) {
  const section = el("section", undefined, "op");
  const head = el("h3");
  head.append(el("span", method, "method"), " ", el("code", path));
  section.append(head);
  if (op.summary) section.append(el("p", op.summary));
  if (op.parameters && op.parameters.length) {
    const table = el("table");
    const header = el("tr");
    ["parameter", "in", "required", "schema", "description"].forEach((h) => header.append(el("th", h)));
    table.append(header);
    op.parameters.forEach((p) => {
      const row = el("tr");
      row.append(el("td", p.name), el("td", p.in), el("td", p.required ? "yes" : "no"));
      const cell = el("td");
      cell.append(el("code", JSON.stringify(p.schema)));
      row.append(cell, el("td", p.description || ""));
      table.append(row);
    });
    section.append(table);
  }
  if (op.requestBody) {
    const content = op.requestBody.content || {};
    Object.keys(content).forEach((type) => {
      section.append(el("p", "Body (" + type + "):"), el("pre", schemaText(content[type].schema)));
    });
  }
  const list = el("ul");
  Object.keys(op.responses || {}).forEach((status) => {
    list.append(el("li", status + ": " + (op.responses[status].description || "")));
  });
  section.append(el("p", "Responses:"), list);
  return section;
}

async function main() {
  const target = document.getElementById("paths");
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    const spec = await response.json();
    document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
    document.getElementById("description").textContent = spec.info.description || "";
    target.replaceChildren();
    Object.keys(spec.paths).forEach((path) => {
      Object.keys(spec.paths[path]).forEach((method) => {
        target.append(renderOperation(path, method, spec.paths[path][method]));
      });
    });
    const schemas = document.getElementById("schemas");
    Object.entries((spec.components || {}).schemas || {}).forEach(([name, schema]) => {
      schemas.append(el("h3", name), el("pre", schemaText(schema)));
    });
  } catch (error) {
    target.replaceChildren(el("p", "The contract could not be loaded: " + error));
  }
}

main();
