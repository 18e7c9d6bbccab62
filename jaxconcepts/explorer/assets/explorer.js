/* jaxconcepts concept explorer: one static page per dataset, no server, no network.
 *
 * Data files are scripts calling JC_DATA(name, payload) (browsers refuse fetch() from file://,
 * not <script src>): data/meta.js (the first view), data/chunk-NNNNN.js (per-image details,
 * loaded on demand), data/dict-<method>.js (a dictionary method). Heatmaps are drawn here from
 * uint8 maps on the feature grid: bilinear upsampling with half-pixel centres and clamped edges
 * (as jax.image.resize), viridis colours (lightness rises with the value: readable in greyscale),
 * alpha = opacity x value. Routes live in location.hash: #/, #/image/R, #/compare/R,
 * #/concept/M/G, #/class/M/Y, #/concepts, #/classes (R = the image's row in the table).
 */
"use strict";

const JC = { meta: null, data: {}, waiting: {}, state: { method: null, on: {}, opacity: 0.7,
  removed: null, page: 0, cls: -1 } };

const VIRIDIS = (function () {
  const hex = "44015444025645045745055946075a46085c460a5d460b5e470d60470e6147106347116447136548146748166848176948186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f854240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f881fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad8128ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc743fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc8635ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21ad8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";
  const out = new Uint8Array(768);
  for (let i = 0; i < 768; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
})();

function JC_DATA(name, payload) {
  JC.data[name] = payload;
  if (name === "meta") { JC.meta = payload; start(); }
  const w = JC.waiting[name];
  if (w) { delete JC.waiting[name]; w.resolve(payload); }
}

function JC_FAIL(src) {
  const s = document.getElementById("status");
  if (s) s.textContent = "The data file " + src + " could not be loaded: rebuild the explorer " +
    "(jaxconcepts explore --dataset NAME).";
}

function load(name) {
  if (JC.data[name]) return Promise.resolve(JC.data[name]);
  if (JC.waiting[name]) return JC.waiting[name].promise;
  let resolve, reject;
  const promise = new Promise(function (a, b) { resolve = a; reject = b; });
  JC.waiting[name] = { promise: promise, resolve: resolve, reject: reject };
  const s = document.createElement("script");
  s.src = "data/" + name + ".js";
  s.onerror = function () {
    delete JC.waiting[name];
    reject(new Error("data/" + name + ".js could not be loaded"));
  };
  document.body.appendChild(s);
  return promise;
}

function chunkName(row) {
  return "chunk-" + String(Math.floor(row / JC.meta.chunk_size)).padStart(5, "0");
}

function imageRecord(row) {
  return load(chunkName(row)).then(function (c) { return c[String(row)]; });
}

/* ---------------------------------------------------------------- small DOM helpers */

function el(tag, attrs, children) {
  const e = document.createElement(tag);
  if (attrs) for (const k in attrs) {
    if (k === "text") e.textContent = attrs[k];
    else if (k === "class") e.className = attrs[k];
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), attrs[k]);
    else e.setAttribute(k, attrs[k]);
  }
  (children || []).forEach(function (c) {
    if (c !== null && c !== undefined) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  });
  return e;
}

function fmt(x, nd) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return Number(x).toFixed(nd === undefined ? 3 : nd);
}

function note(text) { return el("p", { class: "note", role: "note" }, [text]); }

function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function floats(b64) { return new Float32Array(bytes(b64).buffer); }

function thumb(row, alt) {
  /* a thumbnail, or the reason there is none (never a request for a file that is not there) */
  const missing = JC.meta.missing[String(imageIndex(row))];
  if (missing) return el("span", { class: "nopic", role: "img", "aria-label": "no picture: " + missing }, ["no picture: " + missing]);
  return el("img", { src: "thumbs/" + imageIndex(row) + ".jpg", loading: "lazy", alt: alt });
}

function imageName(row) { return JC.meta.images.name[row]; }
function imageIndex(row) { return JC.meta.images.index[row]; }
function outputName(o) {
  const n = JC.meta.outputs;
  return n && n[o] !== undefined ? n[o] : "output " + o;
}
function className(c) { return c >= 0 ? JC.meta.classes[c] : "(no label)"; }

function picture(row, size, maps, alt) {
  /* an image with its overlay canvas; maps: grid maps (gridMap) combined by max, or null */
  const box = el("div", { class: "stage" + (size ? " " + size : "") });
  const missing = JC.meta.missing[String(imageIndex(row))];
  if (!missing) box.appendChild(el("img", { src: "img/" + imageIndex(row) + ".jpg", alt: alt || ("image " + imageName(row)) }));
  const cv = el("canvas", { width: 256, height: 256, role: "img",
    "aria-label": "heatmap overlay" });
  box.appendChild(cv);
  draw(cv, maps || [], JC.state.opacity);
  if (missing) box.appendChild(el("p", { class: "flag" }, ["picture missing: " + missing]));
  return box;
}

/* ---------------------------------------------------------------- heatmaps */

function gridMap(b64, r) {
  /* a stored map: uint8 over its range r = [lo, hi] (default [0, 1]) -> grid values */
  const u = bytes(b64), lo = r ? r[0] : 0, hi = r ? r[1] : 1, out = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) out[i] = lo + (hi - lo) * u[i] / 255;
  return out;
}

function upsample(map, h, w, H, W) {
  /* bilinear, half-pixel centres, edges clamped (jax.image.resize "bilinear"); clipped to [0, 1] */
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    let sy = (y + 0.5) * h / H - 0.5; sy = Math.min(Math.max(sy, 0), h - 1);
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), fy = sy - y0;
    for (let x = 0; x < W; x++) {
      let sx = (x + 0.5) * w / W - 0.5; sx = Math.min(Math.max(sx, 0), w - 1);
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), fx = sx - x0;
      const a = map[y0 * w + x0], b = map[y0 * w + x1], c = map[y1 * w + x0], d = map[y1 * w + x1];
      const v = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy;
      out[y * W + x] = v < 0 ? 0 : (v > 1 ? 1 : v);
    }
  }
  return out;
}

function draw(canvas, maps, opacity) {
  const ctx = canvas.getContext("2d");
  const H = canvas.height, W = canvas.width, g = JC.meta.grid;
  const img = ctx.createImageData(W, H);
  if (maps.length) {
    const acc = new Float32Array(H * W);
    maps.forEach(function (m) {
      const u = upsample(m, g[0], g[1], H, W);
      for (let i = 0; i < u.length; i++) if (u[i] > acc[i]) acc[i] = u[i];
    });
    for (let i = 0; i < acc.length; i++) {
      const v = Math.round(acc[i] * 255);
      img.data[4 * i] = VIRIDIS[3 * v]; img.data[4 * i + 1] = VIRIDIS[3 * v + 1];
      img.data[4 * i + 2] = VIRIDIS[3 * v + 2];
      img.data[4 * i + 3] = Math.round(255 * opacity * acc[i]);
    }
  }
  ctx.putImageData(img, 0, 0);
}

function legend() {
  const cv = el("canvas", { width: 160, height: 12, "aria-hidden": "true" });
  const ctx = cv.getContext("2d"), img = ctx.createImageData(160, 12);
  for (let x = 0; x < 160; x++) for (let y = 0; y < 12; y++) {
    const v = Math.round(x * 255 / 159), i = 4 * (y * 160 + x);
    img.data[i] = VIRIDIS[3 * v]; img.data[i + 1] = VIRIDIS[3 * v + 1];
    img.data[i + 2] = VIRIDIS[3 * v + 2]; img.data[i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return el("div", { class: "legend" }, ["low", cv, "high (viridis; transparent where low)"]);
}

function bar(value, scale, label) {
  const width = scale > 0 ? Math.min(100, 100 * Math.abs(value) / scale) : 0;
  return el("div", { class: "barbox" }, [
    el("div", { class: "bar" + (value < 0 ? " neg" : ""), style: "width:" + width.toFixed(1) + "%",
      role: "img", "aria-label": label + " " + fmt(value, 2) }),
    el("span", {}, [fmt(value, 2)])]);
}

/* ---------------------------------------------------------------- views */

function start() {
  const m = JC.meta;
  document.title = m.title;
  document.getElementById("title").textContent = m.title;
  document.getElementById("report-link").setAttribute("href", "../../" + m.dataset + ".html");
  const q = document.getElementById("q");
  q.addEventListener("input", function () { search(q.value); });
  window.addEventListener("hashchange", route);
  route();
}

function main() {
  const mn = document.getElementById("main");
  mn.replaceChildren();
  return mn;
}

function route() {
  const parts = (location.hash || "#/").slice(2).split("/").map(decodeURIComponent);
  const view = parts[0] || "";
  const here = location.hash || "#/";
  JC.state.removed = null;
  document.body.removeAttribute("data-ready");
  const show = {
    "": home, "image": function () { imageView(+parts[1], parts[2]); },
    "compare": function () { compareView(+parts[1]); },
    "concept": function () { conceptView(parts[1], +parts[2]); },
    "class": function () { classView(parts[1], +parts[2]); },
    "concepts": conceptsView, "classes": classesView,
  }[view] || home;
  Promise.resolve(show()).catch(function (e) {
    main().appendChild(note("This view could not be shown: " + e.message));
  }).then(function () {  /* the view is drawn (tests and scripts wait for this) */
    if ((location.hash || "#/") === here) document.body.setAttribute("data-ready", here);
  });
  window.scrollTo(0, 0);
}

function summary() {
  const m = JC.meta, rows = [["model", m.model], ["layer", m.layer], ["images", m.n_images],
    ["feature grid", m.grid.join(" × ")]];
  const t = el("table", {}, rows.map(function (r) {
    return el("tr", {}, [el("th", { scope: "row" }, [r[0]]), el("td", {}, [String(r[1])])]);
  }));
  const status = el("ul", {});
  const add = function (name, info, extra) {
    status.appendChild(el("li", {}, [name + ": " + (info.computed ? "computed" + (extra || "")
      : "not computed (" + info.note + ")")]));
  };
  for (const k in m.methods) add(m.methods[k].title, m.methods[k]);
  const d = m.dictionaries;
  if (d._note) status.appendChild(el("li", {}, ["Dictionary methods (C2MF, CRAFT, PCA): not computed (" + d._note + ")"]));
  for (const k in d) if (k !== "_note") add(d[k].title, d[k], " (k = " + d[k].k + ", codes for " + d[k].n_coded + " images)");
  add("Suppression", m.suppress, m.suppress.computed ? ": " + m.suppress.how : "");
  add("Crops' confidence (OOD study)", m.ood);
  return el("section", { "aria-label": "Dataset" }, [t, el("h2", {}, ["What this page holds"]), status]);
}

function home() {
  const m = JC.meta, mn = main(), st = JC.state, per = 48;
  mn.appendChild(summary());
  const missing = Object.keys(m.missing);
  if (missing.length) {
    mn.appendChild(note(missing.length + " image(s) have no picture: " + missing.slice(0, 10).map(function (i) {
      return "#" + i + " (" + m.missing[i] + ")"; }).join("; ")));
  }
  mn.appendChild(el("h2", {}, ["Images"]));
  const rows = [];
  for (let r = 0; r < m.n_images; r++) if (st.cls < 0 || m.images.label[r] === st.cls) rows.push(r);
  if (m.classes.length) {
    const sel = el("select", { id: "cls", onchange: function (e) { st.cls = +e.target.value; st.page = 0; home(); } },
      [el("option", { value: "-1", text: "all classes" })].concat(m.classes.map(function (c, i) {
        return el("option", { value: String(i), text: c }); })));
    sel.value = String(st.cls);
    mn.appendChild(el("label", { for: "cls" }, ["Class: "]));
    mn.appendChild(sel);
  }
  const pages = Math.max(1, Math.ceil(rows.length / per));
  st.page = Math.min(st.page, pages - 1);
  const pager = el("div", { class: "pager" }, [
    el("button", { onclick: function () { st.page = Math.max(0, st.page - 1); home(); } }, ["previous"]),
    "page " + (st.page + 1) + " of " + pages + " (" + rows.length + " images)",
    el("button", { onclick: function () { st.page = Math.min(pages - 1, st.page + 1); home(); } }, ["next"])]);
  mn.appendChild(pager);
  const grid = el("div", { class: "grid" });
  rows.slice(st.page * per, (st.page + 1) * per).forEach(function (r) {
    const label = m.images.label[r] >= 0 ? className(m.images.label[r]) + "; " : "";
    grid.appendChild(el("a", { class: "card", href: "#/image/" + r }, [
      thumb(r, imageName(r) + " (" + label + "predicted " + outputName(m.images.pred[r]) + ")"),
      el("span", {}, [imageName(r)])]));
  });
  mn.appendChild(grid);
}

function methodSwitch(row, current) {
  const m = JC.meta, box = el("div", { class: "switch", role: "radiogroup", "aria-label": "Method" });
  const all = Object.keys(m.methods).concat(Object.keys(m.dictionaries).filter(function (k) { return k !== "_note"; }));
  all.forEach(function (k) {
    const info = m.methods[k] || m.dictionaries[k];
    const id = "method-" + k;
    const input = el("input", { type: "radio", name: "method", id: id, value: k,
      onchange: function () { location.hash = "#/image/" + row + "/" + k; } });
    if (k === current) input.checked = true;
    if (!info.computed) input.disabled = true;
    box.appendChild(el("label", { for: id }, [input, " " + info.title]));
  });
  return box;
}

function topList(top5, before) {
  const t = el("table", {}, [el("tr", {}, [el("th", {}, ["output"]), el("th", {}, ["p"])])]);
  top5.forEach(function (e, i) {
    const changed = before && (!before[i] || before[i][0] !== e[0]);
    t.appendChild(el("tr", { class: changed ? "changed" : "" }, [el("td", {}, [outputName(e[0])]), el("td", { class: "num" }, [fmt(e[1], 4)])]));
  });
  return t;
}

function imageView(row, method) {
  const m = JC.meta, mn = main();
  if (!(row >= 0 && row < m.n_images)) { mn.appendChild(note("No image " + row)); return; }
  return imageRecord(row).then(function (rec) {
    if (!method) method = Object.keys(m.methods).find(function (k) { return m.methods[k].computed; }) ||
      Object.keys(m.dictionaries).find(function (k) { return k !== "_note"; }) || "cgap";
    const nav = el("p", {}, [
      row > 0 ? el("a", { href: "#/image/" + (row - 1) + "/" + method }, ["← previous"]) : null, " ",
      row + 1 < m.n_images ? el("a", { href: "#/image/" + (row + 1) + "/" + method }, ["next →"]) : null, " · ",
      el("a", { href: "#/compare/" + row }, ["compare the methods on this image"])]);
    mn.appendChild(nav);
    mn.appendChild(el("h2", {}, ["Image " + imageName(row)]));
    const label = m.images.label[row];
    mn.appendChild(el("p", {}, [
      (label >= 0 ? "label: " : ""), label >= 0 ? el("a", { href: classHref(label) }, [className(label)]) : null,
      (label >= 0 ? "; " : "") + "predicted " + outputName(m.images.pred[row]) + " with confidence " + fmt(m.images.conf[row], 3)]));
    mn.appendChild(methodSwitch(row, method));
    const cols = el("div", { class: "cols" });
    mn.appendChild(cols);
    const left = el("div", {}), right = el("div", { class: "panel" });
    cols.appendChild(left); cols.appendChild(right);
    const stage = picture(row, "", [], "image " + imageName(row) + " with the selected concepts' heatmap");
    stage.id = "image-stage";
    left.appendChild(stage);
    const slider = el("input", { type: "range", id: "opacity", min: "0", max: "1", step: "0.05",
      value: String(JC.state.opacity) });
    left.appendChild(el("div", {}, [el("label", { for: "opacity" }, ["Overlay opacity "]), slider]));
    left.appendChild(legend());
    const maps = {};
    const redraw = function () {
      const on = Object.keys(maps).filter(function (k) { return maps[k].on; }).map(function (k) { return maps[k].map; });
      draw(stage.querySelector("canvas"), on, JC.state.opacity);
    };
    slider.addEventListener("input", function () { JC.state.opacity = +slider.value; redraw(); });
    right.appendChild(el("h3", {}, ["Prediction (top 5)"]));
    right.appendChild(topList(rec.top5));
    if (m.ood.computed && rec.ood) {
      const c = rec.ood.crops, mean = c.reduce(function (a, b) { return a + b; }, 0) / c.length;
      right.appendChild(el("p", { id: "ood" }, ["Confidence of the full image " + fmt(m.images.conf[row], 3) +
        "; of its " + c.length + " crop(s): " + c.map(function (x) { return fmt(x, 3); }).join(", ") +
        " (mean " + fmt(mean, 3) + "). The OOD study of the C2MF paper, per image."]));
    } else if (!m.ood.computed) right.appendChild(el("p", { class: "muted" }, ["Crops' confidence: not computed (" + m.ood.note + ")."]));
    if (m.methods[method]) clusteringPanel(right, rec, method, maps, redraw);
    else return dictionaryPanel(right, row, rec, method, maps, redraw);
    redraw();
  });
}

function clusteringPanel(right, rec, method, maps, redraw) {
  const info = JC.meta.methods[method];
  right.appendChild(el("h3", {}, [info.title + " concepts, by decreasing importance (Eq. 3)"]));
  if (!info.computed) { right.appendChild(note("Not computed: " + info.note)); return; }
  const concepts = (rec.m || {})[method];
  if (!concepts || !concepts.length) { right.appendChild(note("This image has no " + info.title + " concept (all activations zero?).")); return; }
  const scale = Math.max.apply(null, concepts.map(function (c) { return Math.abs(c.imp); }).concat([1e-9]));
  concepts.forEach(function (c, i) {
    const key = "c" + c.l;
    maps[key] = { map: gridMap(c.map, c.r), on: i === 0 };
    const id = "toggle-" + method + "-" + c.l;
    /* a sub-concept lies under its parent (normalised by the parent's min / max, §3.4): showing
       one hides the other, so that what is toggled is what is seen */
    const set = function (k, on) {
      maps[k].on = on;
      const input = document.querySelector("input.toggle[data-key='" + k + "']");
      if (input) input.checked = on;
    };
    const subKeys = (c.subs || []).map(function (s) { return "c" + c.l + "s" + s.s; });
    const box = el("input", { type: "checkbox", id: id, class: "toggle", "data-key": key,
      onchange: function (e) {
        maps[key].on = e.target.checked;
        if (e.target.checked) subKeys.forEach(function (k) { set(k, false); });
        redraw();
      } });
    box.checked = i === 0;
    right.appendChild(el("div", { class: "concept" }, [box,
      el("label", { for: id }, ["concept " + (c.l + 1) + " (" + c.n + " channels)"]),
      bar(c.imp, scale, "importance")]));
    (c.subs || []).forEach(function (s) {
      const sk = "c" + c.l + "s" + s.s, sid = "toggle-" + method + "-" + c.l + "-" + s.s;
      maps[sk] = { map: gridMap(s.map, s.r), on: false };
      const sb = el("input", { type: "checkbox", id: sid, class: "toggle", "data-key": sk,
        onchange: function (e) {
          maps[sk].on = e.target.checked;
          if (e.target.checked) set(key, false);
          redraw();
        } });
      right.appendChild(el("div", { class: "concept sub" }, [sb,
        el("label", { for: sid }, ["sub-concept " + (c.l + 1) + "." + (s.s + 1) + " (" + s.n + ")"]),
        s.imp === null ? el("span", {}, ["–"]) : bar(s.imp, scale, "importance")]));
    });
  });
  right.appendChild(el("p", { class: "muted" }, ["Importance I = (p_t − p_c) / p_t × 100 with the concept's channels zeroed; sub-concepts are normalised with their parent's min and max (§3.4)."]));
}

function conceptLabel(d, g) {
  const w = d.names[g] && d.names[g][0] ? " “" + d.names[g][0][0] + "”" : "";
  return d.labels[g] + w;
}

function suppressed(d, rec, code, g) {
  /* the top-5 with concept g removed: logits − ū_g (w_g Hᵀ) (see the page's notes) */
  const z = floats(rec.logits), n = d.n_outputs, C = d.contribF || (d.contribF = floats(d.contrib));
  const u = code.mean[g - code.g0];
  let mx = -Infinity;
  const out = new Float64Array(n);
  for (let o = 0; o < n; o++) { out[o] = z[o] - u * C[g * n + o]; if (out[o] > mx) mx = out[o]; }
  let s = 0;
  for (let o = 0; o < n; o++) { out[o] = Math.exp(out[o] - mx); s += out[o]; }
  const idx = Array.from(out.keys()).sort(function (a, b) { return out[b] - out[a] || a - b; }).slice(0, 5);
  return idx.map(function (o) { return [o, out[o] / s]; });
}

function dictionaryPanel(right, row, rec, method, maps, redraw) {
  const info = JC.meta.dictionaries[method];
  right.appendChild(el("h3", {}, [info.title + " concepts (code maps)"]));
  const code = rec.codes && rec.codes[method];
  if (!code) {
    right.appendChild(note("Not coded: " + (info.every ? "the " + info.title + " codes cover the " + info.n_coded + " images of the classes it was fitted on." :
      "the " + info.title + " codes cover the " + info.n_coded + " images of the c2mf stage's atlas sample.")));
    redraw();
    return;
  }
  return load("dict-" + method).then(function (d) {
    const ks = code.mean.map(function (_, j) { return code.g0 + j; });
    const u8 = gridMap(code.maps), hw = JC.meta.grid[0] * JC.meta.grid[1];
    ks.sort(function (a, b) { return code.mean[b - code.g0] - code.mean[a - code.g0]; });
    const scale = Math.max.apply(null, code.mean.map(Math.abs).concat([1e-9]));
    const sup = JC.meta.suppress;
    const after = el("div", { id: "suppressed", "aria-live": "polite" });
    ks.forEach(function (g, i) {
      const j = g - code.g0, key = "g" + g, id = "toggle-" + method + "-" + g;
      maps[key] = { map: u8.subarray(j * hw, (j + 1) * hw), on: i === 0 };
      const box = el("input", { type: "checkbox", id: id, class: "toggle", "data-key": key,
        onchange: function (e) { maps[key].on = e.target.checked; redraw(); } });
      box.checked = i === 0;
      const parts = [box, el("label", { for: id }, [el("a", { href: "#/concept/" + method + "/" + g }, [conceptLabel(d, g)])]),
        bar(code.mean[j], scale, "mean code"),
          sup.computed && d.contrib ? el("button", { class: "remove", "data-concept": String(g),
            "aria-label": "remove concept " + d.labels[g] + " and show the new prediction",
            onclick: function () {
              const top = suppressed(d, rec, code, g);
              after.replaceChildren(el("h3", {}, ["Without " + conceptLabel(d, g)]), topList(top, rec.top5),
                el("p", { class: "muted" }, [sup.how + "."]));
            } }, ["remove"]) : el("span", {})];
      right.appendChild(el("div", { class: "concept dict" }, parts));
    });
    right.appendChild(el("p", { class: "muted" }, ["Bars: the image's mean code per concept" +
      (d.signed ? " (PCA: signed; maps show |code|)" : "") + ". Maps are divided by the concept's largest code over the coded images."]));
    if (!sup.computed) right.appendChild(note("Suppression not computed: " + sup.note));
    right.appendChild(after);
    redraw();
  });
}

function compareView(row) {
  const m = JC.meta, mn = main();
  return imageRecord(row).then(function (rec) {
    mn.appendChild(el("p", {}, [el("a", { href: "#/image/" + row }, ["← image view"])]));
    mn.appendChild(el("h2", {}, ["Methods side by side: " + imageName(row)]));
    mn.appendChild(el("p", { class: "muted" }, ["Each row: a method's three most important concepts (clustering: by Eq. 3; dictionaries: by the image's mean code)."]));
    const jobs = [];
    Object.keys(m.methods).forEach(function (k) {
      const info = m.methods[k], row_el = el("div", { class: "compare-row" }, [el("strong", {}, [info.title])]);
      mn.appendChild(row_el);
      if (!info.computed || !rec.m || !rec.m[k]) { row_el.appendChild(el("span", { class: "muted" }, ["not computed" + (info.note ? " (" + info.note + ")" : "")])); return; }
      rec.m[k].slice(0, 3).forEach(function (c) {
        row_el.appendChild(el("figure", {}, [picture(row, "small", [gridMap(c.map, c.r)], info.title + " concept " + (c.l + 1) + " on " + imageName(row)),
          el("figcaption", {}, ["concept " + (c.l + 1) + ", I = " + fmt(c.imp, 1)])]));
      });
    });
    Object.keys(m.dictionaries).filter(function (k) { return k !== "_note"; }).forEach(function (k) {
      const info = m.dictionaries[k], row_el = el("div", { class: "compare-row" }, [el("strong", {}, [info.title])]);
      mn.appendChild(row_el);
      const code = rec.codes && rec.codes[k];
      if (!code) { row_el.appendChild(el("span", { class: "muted" }, ["not coded (outside the atlas sample)"])); return; }
      jobs.push(load("dict-" + k).then(function (d) {
        const u8 = gridMap(code.maps), hw = m.grid[0] * m.grid[1];
        const js = code.mean.map(function (_, j) { return j; }).sort(function (a, b) { return code.mean[b] - code.mean[a]; }).slice(0, 3);
        js.forEach(function (j) {
          const g = code.g0 + j;
          row_el.appendChild(el("figure", {}, [picture(row, "small", [u8.subarray(j * hw, (j + 1) * hw)], info.title + " " + conceptLabel(d, g) + " on " + imageName(row)),
            el("figcaption", {}, [el("a", { href: "#/concept/" + k + "/" + g }, [conceptLabel(d, g)]), ", mean code " + fmt(code.mean[j], 3)])]));
        });
      }));
    });
    if (m.dictionaries._note) mn.appendChild(el("p", { class: "muted" }, ["C2MF / CRAFT / PCA: not computed (" + m.dictionaries._note + ")"]));
    return Promise.all(jobs);
  });
}

function examples(list, d, g, alt) {
  const box = el("div", { class: "examples" });
  list.forEach(function (e) {
    box.appendChild(el("figure", {}, [el("a", { href: "#/image/" + e[0] + "/" + d.method }, [picture(e[0], "small", [gridMap(e[2])], alt + " on " + imageName(e[0]))]),
      el("figcaption", {}, [imageName(e[0]) + ", peak code " + fmt(e[1], 3)])]));
  });
  if (!list.length) box.appendChild(el("p", { class: "muted" }, ["no coded image uses it"]));
  return box;
}

function classHref(labelIdx) {
  const d = Object.keys(JC.meta.dictionaries).find(function (k) { return k !== "_note"; });
  return "#/class/" + (d || "-") + "/" + labelIdx;
}

function conceptView(method, g) {
  const m = JC.meta, mn = main();
  if (!m.dictionaries[method] || method === "_note") {
    mn.appendChild(note("Concept view: not computed for this dataset (" + (m.dictionaries._note || "no method " + method) + "). CGAP / CPHA concepts are per image: see an image's view."));
    return;
  }
  return load("dict-" + method).then(function (d) {
    mn.appendChild(el("h2", {}, [d.title + " concept " + conceptLabel(d, g)]));
    const names = el("table", {}, [el("tr", {}, [el("th", {}, ["name (head output)"]), el("th", {}, ["mean probability of its top patches"])])]);
    (d.names[g] || []).forEach(function (w) { names.appendChild(el("tr", {}, [el("td", {}, [w[0]]), el("td", { class: "num" }, [fmt(w[1], 4)])])); });
    mn.appendChild(names);
    if (d.importance) mn.appendChild(el("p", {}, ["Importance: " + fmt(d.importance[g], 2) +
      " (mean over the coded images that use it of (p_t − p_t') / p_t × 100, the concept removed from the activations, t = the predicted class)."]));
    const users = [];
    d.usage.forEach(function (row, y) { if (row[g] >= d.gate_threshold) users.push([y, row[g]]); });
    users.sort(function (a, b) { return b[1] - a[1]; });
    mn.appendChild(el("h3", {}, [d.gated ? "Classes whose gate uses it (σ(λ_y) ≥ " + d.gate_threshold + ")" : d.shared ? "Classes that use it (mean code ÷ the class's largest ≥ " + d.gate_threshold + ")" : "Its class (per-class dictionary)"]));
    const ul = el("ul", {});
    users.forEach(function (u) { ul.appendChild(el("li", {}, [el("a", { href: "#/class/" + method + "/" + u[0] }, [d.class_names[u[0]]]), " " + (d.gated ? "gate " : "usage ") + fmt(u[1], 3)])); });
    if (!users.length) ul.appendChild(el("li", {}, ["none"]));
    mn.appendChild(ul);
    mn.appendChild(el("h3", {}, ["Top images (code map over each)"]));
    mn.appendChild(examples(d.top[g], d, g, d.title + " " + d.labels[g]));
    mn.appendChild(el("h3", {}, ["Nearest concepts in the other methods"]));
    const t = el("table", {}, [el("tr", {}, [el("th", {}, ["method"]), el("th", {}, ["Hungarian match (|cos|)"]), el("th", {}, ["nearest by |cos|"])])]);
    const jobs = Object.keys(d.nearest).map(function (o) {
      return load("dict-" + o).then(function (od) {
        const e = d.nearest[o][g];
        const link = function (p) { return el("a", { href: "#/concept/" + o + "/" + p[0] }, [conceptLabel(od, p[0]) + " (" + fmt(p[1], 2) + ")"]); };
        const near = el("td", {});
        e.nearest.forEach(function (p, i) { if (i) near.appendChild(document.createTextNode(", ")); near.appendChild(link(p)); });
        t.appendChild(el("tr", {}, [el("td", {}, [od.title]), el("td", {}, [e.match ? link(e.match) : "none (fewer concepts there)"]), near]));
      });
    });
    mn.appendChild(t);
    return Promise.all(jobs);
  });
}

function conceptsView() {
  const m = JC.meta, mn = main();
  mn.appendChild(el("h2", {}, ["Concepts"]));
  const ds = Object.keys(m.dictionaries).filter(function (k) { return k !== "_note"; });
  if (!ds.length) { mn.appendChild(note("Dictionary concepts: not computed (" + m.dictionaries._note + "). CGAP / CPHA concepts are per image: open an image.")); return; }
  ds.forEach(function (k) {
    const info = m.dictionaries[k];
    mn.appendChild(el("h3", {}, [info.title + " (k = " + info.k + ")"]));
    const ul = el("ul", {});
    info.search.forEach(function (s, g) { ul.appendChild(el("li", {}, [el("a", { href: "#/concept/" + k + "/" + g }, [s[0]]), " " + s[1].join(", ")])); });
    mn.appendChild(ul);
  });
}

function classesView() {
  const m = JC.meta, mn = main();
  mn.appendChild(el("h2", {}, ["Classes"]));
  const ds = Object.keys(m.dictionaries).filter(function (k) { return k !== "_note"; });
  if (!m.classes.length) mn.appendChild(note("This dataset has no labelled classes (a flat folder of images)."));
  const ul = el("ul", {});
  m.classes.forEach(function (c, i) { ul.appendChild(el("li", {}, [el("a", { href: "#/class/" + (ds[0] || "-") + "/" + i }, [c])])); });
  mn.appendChild(ul);
}

function classView(method, y) {
  const m = JC.meta, mn = main();
  const imgs = [];
  for (let r = 0; r < m.n_images; r++) if (m.images.label[r] === y) imgs.push(r);
  const listImages = function () {
    mn.appendChild(el("h3", {}, ["Images of this class (" + imgs.length + ")"]));
    const grid = el("div", { class: "grid" });
    imgs.slice(0, 24).forEach(function (r) {
      grid.appendChild(el("a", { class: "card", href: "#/image/" + r }, [thumb(r, imageName(r)), el("span", {}, [imageName(r)])]));
    });
    mn.appendChild(grid);
  };
  if (!m.dictionaries[method] || method === "_note") {
    mn.appendChild(el("h2", {}, ["Class " + className(y)]));
    mn.appendChild(note("Class recipe: not computed (" + (m.dictionaries._note || "no dictionary method") + ")."));
    listImages();
    return;
  }
  return load("dict-" + method).then(function (d) {
    mn.appendChild(el("h2", {}, ["Class " + d.class_names[y] + ": " + d.title + " recipe"]));
    const sw = el("p", {}, ["Method: "]);
    Object.keys(m.dictionaries).filter(function (k) { return k !== "_note"; }).forEach(function (k) {
      sw.appendChild(k === method ? el("strong", {}, [m.dictionaries[k].title]) : el("a", { href: "#/class/" + k + "/" + y }, [m.dictionaries[k].title]));
      sw.appendChild(document.createTextNode(" "));
    });
    mn.appendChild(sw);
    const rec = d.reconstruction || {};
    const acc = (rec.acc_label_per_class || {})[String(y)], accp = (rec.acc_pred_per_class || {})[String(y)];
    mn.appendChild(el("p", {}, ["Reconstruction accuracy (C2MF §3.3; the head on the reconstructed test activations): " +
      (acc !== undefined ? fmt(acc, 3) + " against the labels" : "") + (acc !== undefined && accp !== undefined ? ", " : "") +
      (accp !== undefined ? fmt(accp, 3) + " against the model's predictions" : "") + (acc === undefined && accp === undefined ? "not reported for this class" : "") + "."]));
    const row = d.usage[y], order = row.map(function (_, g) { return g; }).filter(function (g) { return row[g] > 0; }).sort(function (a, b) { return row[b] - row[a]; });
    mn.appendChild(el("h3", {}, [d.gated ? "Gates σ(λ_y) (open at ≥ " + d.gate_threshold + ")" : "Usage (mean |code|, divided by the class's largest)"]));
    const gates = el("div", { class: "panel" });
    order.slice(0, 20).forEach(function (g) {
      gates.appendChild(el("div", { class: "concept" }, [el("span", {}, [row[g] >= d.gate_threshold ? "●" : "○"]),
        el("a", { href: "#/concept/" + method + "/" + g }, [conceptLabel(d, g)]), bar(row[g], 1, "gate")]));
    });
    mn.appendChild(gates);
    mn.appendChild(el("h3", {}, ["Top concepts with example patches from this class"]));
    (d.recipes[y] || []).forEach(function (e) {
      mn.appendChild(el("h4", {}, [el("a", { href: "#/concept/" + method + "/" + e[0] }, [conceptLabel(d, e[0])]), " (" + (d.gated ? "gate " : "usage ") + fmt(e[1], 3) + ")"]));
      mn.appendChild(examples(e[2], d, e[0], d.title + " " + d.labels[e[0]]));
    });
    if (!(d.recipes[y] || []).length) mn.appendChild(el("p", { class: "muted" }, ["No concept is used at the threshold."]));
    listImages();
  });
}

/* ---------------------------------------------------------------- search */

function search(text) {
  const m = JC.meta, box = document.getElementById("results");
  const q = text.trim().toLowerCase();
  box.replaceChildren();
  if (!q) return;
  const hits = { concepts: [], classes: [], images: [], outputs: [] };
  const words = new Set();
  (m.lemmas.length ? m.lemmas : m.outputs).forEach(function (l, o) {
    if (l.toLowerCase().includes(q)) { words.add(m.outputs[o]); if (hits.outputs.length < 10) hits.outputs.push(o); }
  });
  Object.keys(m.dictionaries).filter(function (k) { return k !== "_note"; }).forEach(function (k) {
    m.dictionaries[k].search.forEach(function (s, g) {
      const match = s[0].toLowerCase().includes(q) || s[1].some(function (w) { return w.toLowerCase().includes(q) || words.has(w); });
      if (match && hits.concepts.length < 30) hits.concepts.push([k, g, s]);
    });
  });
  m.classes.forEach(function (c, i) { if (c.toLowerCase().includes(q)) hits.classes.push(i); });
  for (let r = 0; r < m.n_images && hits.images.length < 20; r++) if (imageName(r).toLowerCase().includes(q)) hits.images.push(r);
  const section = function (title, items) {
    if (!items.length) return;
    box.appendChild(el("h3", {}, [title]));
    box.appendChild(el("ul", {}, items.map(function (i) { return el("li", {}, [i]); })));
  };
  section("Concepts", hits.concepts.map(function (h) {
    return el("a", { href: "#/concept/" + h[0] + "/" + h[1] }, [m.dictionaries[h[0]].title + " " + h[2][0] + ": " + h[2][1].join(", ")]); }));
  section("Classes", hits.classes.map(function (i) { return el("a", { href: classHref(i) }, [m.classes[i]]); }));
  section("Images", hits.images.map(function (r) { return el("a", { href: "#/image/" + r }, [imageName(r)]); }));
  section("Head outputs (lemmas)", hits.outputs.map(function (o) { return el("span", {}, [m.lemmas[o] || m.outputs[o]]); }));
  if (!box.children.length) box.appendChild(el("p", { class: "muted" }, ["Nothing matches “" + text + "”."]));
}
