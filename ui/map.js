// The service map on a 2D canvas: drawing, pan and zoom, hit-testing,
// hover, selection, keyboard.
//
// What costs on a canvas rastered by the CPU (headless, or a browser without
// GPU) is pixels filled, not calls made: thick translucent strokes of long
// edges dominate. So edges are bucketed by (style, width, opacity) into one
// path and one stroke each; when many are on screen only the heaviest keep
// their width and the rest are 1-pixel lines (level of detail); only what is
// on screen is drawn; labels are placed by importance and left out where
// they would overlap. A frame of 1,000 nodes and 5,000 edges takes a few
// milliseconds of script and stays under a frame or two to raster.

import { EXTERNAL, UNNAMED } from './model.js';
import { hash } from './util.js';

// Math.hypot is several times slower than this in V8, and it runs per edge.
const hypot = (x, y) => Math.sqrt(x * x + y * y);

const MIN_K = 0.02;
const MAX_K = 8;
const LABEL_NODES = 250; // node labels when at most this many are on screen
const LABEL_EDGES = 150; // edge labels likewise
const DENSE_EDGES = 800; // more edges on screen than this: level of detail
const THICK_WHEN_DENSE = 150; // the heaviest edges keep their width then
const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)');

export class MapView {
  // handlers: {onSelect({type, id} | null, how), onToggleGroup(group),
  //            onLabel(edge) -> text, onTooltip(item) -> [lines], onSettled()}
  constructor(canvas, tooltip, handlers) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.tooltip = tooltip;
    this.on = handlers;
    this.view = { x: 0, y: 0, k: 1 };
    this.model = null;
    this.layout = null;
    this.nodes = []; // {m: model node, p: layout position, r: radius}
    this.edges = []; // {m: model edge, a, b: node entries, w: screen width, rev}
    this.byId = new Map();
    this.selected = null; // {type: 'node'|'edge', id}
    this.hover = null;
    this.matches = new Set(); // search hits (node ids)
    this.touched = false; // the user moved the view: never refit by itself
    this.raf = 0;
    this.anim = null;
    this.size = { w: 1, h: 1, dpr: 1 };
    this.widths = new Map();
    this.readColors();
    this.bind();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  // Colours come from CSS custom properties, so themes live in style.css.
  readColors() {
    const css = getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(name).trim();
    this.colors = {
      bg: v('--map-bg'), edge: v('--edge'), edgeDim: v('--edge-dim'), edgeHl: v('--edge-hl'),
      err: v('--err'), sel: v('--sel'), hit: v('--hit'), text: v('--fg'), muted: v('--muted'),
      ext: v('--node-ext'), host: v('--node-host'), hull: v('--hull'),
      sat: v('--node-s') || '60%', light: v('--node-l') || '45%',
    };
    this.groupColor = new Map();
    this.requestDraw();
  }

  colorOf(group) {
    let c = this.groupColor.get(group);
    if (!c) {
      if (group === EXTERNAL) c = this.colors.ext;
      else if (group === UNNAMED) c = this.colors.host;
      else c = `hsl(${hash(group) % 360} ${this.colors.sat} ${this.colors.light})`;
      this.groupColor.set(group, c);
    }
    return c;
  }

  setModel(model, layout) {
    this.model = model;
    this.layout = layout;
    this.byId = new Map();
    this.nodes = model.nodes.map((m) => {
      const total = m.inbound.connections + m.outbound.connections;
      const r = m.kind === 'group' ? 16 + 3 * Math.log2(1 + m.members.length) : 5 + 1.6 * Math.log2(1 + total);
      const n = { m, p: layout.pos.get(m.id), r };
      this.byId.set(m.id, n);
      return n;
    });
    const pairs = new Set(model.edges.map((e) => e.source + '\u0000' + e.target));
    let max = 0;
    for (const e of model.edges) if (e.value !== null && e.value > max) max = e.value;
    this.edges = model.edges.map((m) => {
      // Width grows with the square root of the metric, so small edges stay
      // visible next to a heavy one; error rate is already a fraction.
      const f = m.value === null ? 0 : model.metric === 'errors' ? m.value : max ? Math.sqrt(m.value / max) : 0;
      const e = {
        m, a: this.byId.get(m.source), b: this.byId.get(m.target),
        w: m.value === null ? 0.75 : 1 + 6 * f,
        rev: pairs.has(m.target + '\u0000' + m.source),
      };
      this.byId.set(m.id, e);
      return e;
    });
    // Rank by weight: in dense views only the top ones are drawn thick.
    [...this.edges].sort((p, q) => q.w - p.w).forEach((e, i) => (e.rank = i));
    if (this.selected && !this.byId.has(this.selected.id)) this.selected = null;
    if (this.hover && !this.byId.has(this.hover.id)) this.hover = null;
    this.requestDraw();
  }

  // --- coordinates ---------------------------------------------------------

  resize() {
    // Hidden (the table view is shown): keep the last size and view.
    if (!this.canvas.clientWidth || !this.canvas.clientHeight) return;
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    // Keep what was in the middle in the middle (the details panel opening
    // takes width from the map).
    if (this.size.w > 1) {
      this.view.x += (w - this.size.w) / 2;
      this.view.y += (h - this.size.h) / 2;
    }
    this.size = { w, h, dpr };
    this.requestDraw();
  }

  toWorld(sx, sy) {
    return { x: (sx - this.view.x) / this.view.k, y: (sy - this.view.y) / this.view.k };
  }

  toScreen(x, y) {
    return { x: x * this.view.k + this.view.x, y: y * this.view.k + this.view.y };
  }

  // An edge's drawn segment: from rim to rim, shifted sideways when the
  // reverse edge exists so the two do not overlap.
  segment(e) {
    const a = e.a.p;
    const b = e.b.p;
    let dx = b.x - a.x;
    let dy = b.y - a.y;
    const d = hypot(dx, dy) || 1;
    dx /= d;
    dy /= d;
    const off = e.rev ? 3 / this.view.k : 0;
    const ox = -dy * off;
    const oy = dx * off;
    const ra = Math.min(e.a.r, d / 3);
    const rb = Math.min(e.b.r + 1 / this.view.k, d / 3);
    return {
      x1: a.x + dx * ra + ox, y1: a.y + dy * ra + oy,
      x2: b.x - dx * rb + ox, y2: b.y - dy * rb + oy, dx, dy,
    };
  }

  // Client (page) coordinates of a node's centre or an edge's middle.
  clientPoint(id) {
    const e = this.byId.get(id);
    if (!e) return null;
    const rect = this.canvas.getBoundingClientRect();
    let w;
    if (e.p) w = e.p;
    else {
      const s = this.segment(e);
      w = { x: (s.x1 + s.x2) / 2, y: (s.y1 + s.y2) / 2 };
    }
    const s = this.toScreen(w.x, w.y);
    return { x: rect.left + s.x, y: rect.top + s.y };
  }

  // --- hit-testing ---------------------------------------------------------

  // The node or edge under a canvas point: nodes first (they are on top),
  // then the nearest edge within a few pixels.
  hit(sx, sy) {
    const { x, y } = this.toWorld(sx, sy);
    const k = this.view.k;
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      const r = Math.max(n.r, 4 / k) + 2 / k;
      const dx = n.p.x - x;
      const dy = n.p.y - y;
      if (dx * dx + dy * dy <= r * r) return { type: 'node', id: n.m.id };
    }
    let best = null;
    let bestD = Infinity;
    for (const e of this.edges) {
      const s = this.segment(e);
      const tol = Math.max(5, e.w / 2 + 3) / k;
      // Cheap box test before the exact distance.
      if (x < Math.min(s.x1, s.x2) - tol || x > Math.max(s.x1, s.x2) + tol ||
        y < Math.min(s.y1, s.y2) - tol || y > Math.max(s.y1, s.y2) + tol) continue;
      const vx = s.x2 - s.x1;
      const vy = s.y2 - s.y1;
      const len2 = vx * vx + vy * vy || 1;
      const t = Math.max(0, Math.min(1, ((x - s.x1) * vx + (y - s.y1) * vy) / len2));
      const d = hypot(s.x1 + t * vx - x, s.y1 + t * vy - y);
      if (d <= tol && d < bestD) {
        bestD = d;
        best = { type: 'edge', id: e.m.id };
      }
    }
    return best;
  }

  // --- view ------------------------------------------------------------------

  // Fits the given nodes (default: all) into the canvas.
  fit(ids, animate = true) {
    const list = ids ? ids.map((id) => this.byId.get(id)).filter((n) => n && n.p) : this.nodes;
    if (!list.length) return;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of list) {
      x0 = Math.min(x0, n.p.x - n.r);
      y0 = Math.min(y0, n.p.y - n.r);
      x1 = Math.max(x1, n.p.x + n.r);
      y1 = Math.max(y1, n.p.y + n.r);
    }
    const pad = 40;
    const { w, h } = this.size;
    const k = Math.min(MAX_K, Math.max(MIN_K, Math.min((w - 2 * pad) / (x1 - x0 || 1), (h - 2 * pad) / (y1 - y0 || 1), 2)));
    const to = { k, x: w / 2 - ((x0 + x1) / 2) * k, y: h / 2 - ((y0 + y1) / 2) * k };
    this.animateTo(to, animate);
  }

  // Centres a node, zooming in if the view is far out.
  focus(id) {
    const n = this.byId.get(id);
    if (!n || !n.p) return;
    const k = Math.max(this.view.k, 1.1);
    const { w, h } = this.size;
    this.touched = true;
    this.animateTo({ k, x: w / 2 - n.p.x * k, y: h / 2 - n.p.y * k }, true);
  }

  animateTo(to, animate) {
    if (!animate || reducedMotion.matches) {
      this.view = { ...to };
      this.anim = null;
    } else {
      this.anim = { from: { ...this.view }, to, t0: performance.now(), ms: 250 };
    }
    this.requestDraw();
  }

  zoomAt(sx, sy, factor) {
    const k = Math.min(MAX_K, Math.max(MIN_K, this.view.k * factor));
    const w = this.toWorld(sx, sy);
    this.view = { k, x: sx - w.x * k, y: sy - w.y * k };
    this.touched = true;
    this.anim = null;
    this.requestDraw();
  }

  panBy(dx, dy) {
    this.view.x += dx;
    this.view.y += dy;
    this.touched = true;
    this.anim = null;
    this.requestDraw();
  }

  select(item) {
    this.selected = item;
    this.requestDraw();
  }

  setMatches(ids) {
    this.matches = ids;
    this.requestDraw();
  }

  // --- the frame loop --------------------------------------------------------

  requestDraw() {
    if (!this.raf) this.raf = requestAnimationFrame((t) => this.frame(t));
  }

  frame(t) {
    this.raf = 0;
    if (this.anim) {
      const a = this.anim;
      const u = Math.min(1, (t - a.t0) / a.ms);
      const e = u * (2 - u);
      this.view = {
        k: a.from.k + (a.to.k - a.from.k) * e,
        x: a.from.x + (a.to.x - a.from.x) * e,
        y: a.from.y + (a.to.y - a.from.y) * e,
      };
      if (u >= 1) this.anim = null;
      this.requestDraw();
    }
    if (this.layout && this.layout.running) {
      // Half a frame at 60 Hz for the simulation, the rest for drawing.
      if (!this.layout.step(8) && this.on.onSettled) this.on.onSettled();
      this.requestDraw();
    }
    this.draw();
  }

  draw() {
    const t0 = performance.now();
    this.drawScene();
    this.drawMs = performance.now() - t0;
    this.draws = (this.draws || 0) + 1;
  }

  drawScene() {
    const { ctx } = this;
    const { w, h, dpr } = this.size;
    const { k, x: tx, y: ty } = this.view;
    const c = this.colors;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.model) return;

    // The world rectangle on screen, a little larger (culling).
    const m = 40 / k;
    const wx0 = -tx / k - m, wy0 = -ty / k - m, wx1 = (w - tx) / k + m, wy1 = (h - ty) / k + m;
    const inView = (x, y, r) => x + r >= wx0 && x - r <= wx1 && y + r >= wy0 && y - r <= wy1;

    const sel = this.selected;
    const selNode = sel && sel.type === 'node' ? sel.id : null;
    const selEdge = sel && sel.type === 'edge' ? sel.id : null;
    const hoverId = this.hover ? this.hover.id : null;

    ctx.setTransform(dpr * k, 0, 0, dpr * k, dpr * tx, dpr * ty);

    // Group disks: around their nodes' centroid, wide enough for them all.
    const hulls = new Map();
    for (const n of this.nodes) {
      if (n.m.kind === 'group') continue;
      let g = hulls.get(n.m.group);
      if (!g) hulls.set(n.m.group, (g = { sx: 0, sy: 0, n: 0, list: [] }));
      g.sx += n.p.x;
      g.sy += n.p.y;
      g.n++;
      g.list.push(n);
    }
    for (const [name, g] of hulls) {
      g.x = g.sx / g.n;
      g.y = g.sy / g.n;
      let r = 0;
      for (const n of g.list) r = Math.max(r, hypot(n.p.x - g.x, n.p.y - g.y) + n.r);
      g.r = r + 18;
      if (!inView(g.x, g.y, g.r)) continue;
      ctx.beginPath();
      ctx.arc(g.x, g.y, g.r, 0, Math.PI * 2);
      ctx.fillStyle = c.hull;
      ctx.fill();
      ctx.lineWidth = 1 / k;
      ctx.strokeStyle = this.colorOf(name);
      ctx.globalAlpha = 0.35;
      ctx.stroke();
      ctx.globalAlpha = 1;
    }

    // Edges. Thick translucent strokes are what costs on a CPU-rastered
    // canvas (pixels filled, not calls made), so when many edges are on
    // screen only the heaviest (and selected ones) get their width; the
    // rest are 1-pixel lines, heavier ones more opaque, without arrowheads.
    const list = [];
    for (const e of this.edges) {
      const a = e.a.p;
      const b = e.b.p;
      if (Math.max(a.x, b.x) < wx0 || Math.min(a.x, b.x) > wx1 || Math.max(a.y, b.y) < wy0 || Math.min(a.y, b.y) > wy1) continue;
      const id = e.m.id;
      let style = 'edge';
      if (id === selEdge) style = 'sel';
      else if (selNode && (e.m.source === selNode || e.m.target === selNode)) style = 'edgeHl';
      else if (this.model.metric === 'errors' && e.m.value > 0) style = 'err';
      else if (sel || (this.matches.size && !this.matches.has(e.m.source) && !this.matches.has(e.m.target))) style = 'edgeDim';
      if (id === hoverId && style !== 'sel') style = 'edgeHl';
      list.push({ e, s: this.segment(e), style });
    }
    const onScreen = list.length;
    const dense = onScreen > DENSE_EDGES;
    const order = { edgeDim: 0, edge: 1, err: 2, edgeHl: 3, sel: 4 };
    // Dim first, highlighted last: they end up on top.
    const buckets = new Map();
    const arrows = [];
    for (const d of list) {
      const wide = !dense || d.style === 'sel' || d.style === 'edgeHl' || d.e.rank < THICK_WHEN_DENSE;
      const width = wide ? Math.round(d.e.w * 2) / 2 : 1;
      // In dense mode a thin edge's weight shows as opacity instead.
      const alpha = wide || d.style === 'edgeDim' ? 1 : d.e.w > 4 ? 1 : d.e.w > 2 ? 0.75 : 0.5;
      const key = `${order[d.style]}|${d.style}|${width}|${alpha}`;
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = []));
      b.push(d.s);
      if (wide) arrows.push(d);
    }
    for (const key of [...buckets.keys()].sort()) {
      const [, style, width, alpha] = key.split('|');
      ctx.beginPath();
      for (const s of buckets.get(key)) {
        ctx.moveTo(s.x1, s.y1);
        ctx.lineTo(s.x2, s.y2);
      }
      ctx.lineWidth = Number(width) / k;
      ctx.strokeStyle = c[style];
      ctx.globalAlpha = Number(alpha);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    // Arrowheads (client -> server): one small fill each (one path of
    // thousands of triangles rasterizes far slower than the same fills).
    arrows.sort((p, q) => order[p.style] - order[q.style]);
    for (const { s, e, style } of arrows) {
      const size = (4 + e.w * 0.9) / k;
      const px = -s.dy * size * 0.5;
      const py = s.dx * size * 0.5;
      ctx.beginPath();
      ctx.moveTo(s.x2, s.y2);
      ctx.lineTo(s.x2 - s.dx * size + px, s.y2 - s.dy * size + py);
      ctx.lineTo(s.x2 - s.dx * size - px, s.y2 - s.dy * size - py);
      ctx.fillStyle = c[style];
      ctx.fill();
    }
    const labelled = list.filter((d) => d.style !== 'edgeDim').map((d) => [d.e, d.s, d.style !== 'sel' && d.style !== 'edgeHl']);

    // Nodes, grouped by colour. Dots a few pixels wide are squares in one
    // path per colour (a thousand tiny arcs cost several times more to
    // rasterize and look the same at that size); larger ones are circles,
    // domains diamonds, with a background-coloured outline that separates
    // nodes big enough to overlap visibly.
    const visible = [];
    const byColor = new Map();
    for (const n of this.nodes) {
      const r = Math.max(n.r, 2.5 / k);
      if (!inView(n.p.x, n.p.y, r)) continue;
      visible.push(n);
      const col = this.colorOf(n.m.group);
      let l = byColor.get(col);
      if (!l) byColor.set(col, (l = []));
      l.push(n);
    }
    ctx.lineWidth = 1.5 / k;
    ctx.strokeStyle = c.bg;
    for (const [col, l] of byColor) {
      ctx.fillStyle = col;
      ctx.beginPath();
      for (const n of l) {
        const r = Math.max(n.r, 2.5 / k);
        if (r * k <= 3.5 && n.m.kind !== 'group') ctx.rect(n.p.x - r * 0.9, n.p.y - r * 0.9, r * 1.8, r * 1.8);
      }
      ctx.fill();
      for (const n of l) {
        const r = Math.max(n.r, 2.5 / k);
        if (r * k <= 3.5 && n.m.kind !== 'group') continue;
        const { x, y } = n.p;
        ctx.beginPath();
        if (n.m.kind === 'domain') {
          ctx.moveTo(x, y - r * 1.2);
          ctx.lineTo(x + r * 1.2, y);
          ctx.lineTo(x, y + r * 1.2);
          ctx.lineTo(x - r * 1.2, y);
          ctx.closePath();
        } else {
          ctx.arc(x, y, r, 0, Math.PI * 2);
        }
        ctx.fill();
        if (r * k >= 5) ctx.stroke();
      }
    }
    // Rings: collapsed groups, search hits, hover, selection.
    const ring = (n, color, width, gap) => {
      ctx.beginPath();
      ctx.arc(n.p.x, n.p.y, Math.max(n.r, 2.5 / k) + gap / k, 0, Math.PI * 2);
      ctx.lineWidth = width / k;
      ctx.strokeStyle = color;
      ctx.stroke();
    };
    for (const n of visible) {
      if (n.m.kind === 'group') ring(n, this.colorOf(n.m.group), 2, 4);
      if (this.matches.has(n.m.id)) ring(n, c.hit, 3, 3);
      if (n.m.id === hoverId) ring(n, c.edgeHl, 2, 2);
      if (n.m.id === selNode) ring(n, c.sel, 3, 3);
    }

    // Text, in screen pixels so it keeps its size at any zoom. Labels that
    // would overlap one already placed are left out (the more important
    // ones are placed first), so what is written can be read.
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineJoin = 'round';
    const placed = new Labels();
    const label = (text, sx, sy, color, font, align, must) => {
      ctx.font = font;
      const tw = this.textWidth(text, font);
      const hgt = 14;
      const x0 = sx - tw / 2;
      const y0 = align === 'bottom' ? sy - hgt : align === 'middle' ? sy - hgt / 2 : sy;
      if (!placed.take(x0 - 2, y0, tw + 4, hgt) && !must) return;
      ctx.textBaseline = align;
      ctx.lineWidth = 3;
      ctx.strokeStyle = c.bg;
      ctx.strokeText(text, sx, sy);
      ctx.fillStyle = color;
      ctx.fillText(text, sx, sy);
    };
    ctx.textAlign = 'center';
    for (const [name, g] of hulls) {
      const s = this.toScreen(g.x, g.y - g.r);
      if (g.r * k < 30 || s.x < -200 || s.x > w + 200 || s.y < -20 || s.y > h + 20) continue;
      label(name, s.x, s.y - 2, this.colorOf(name), '600 13px system-ui, sans-serif', 'bottom', true);
    }
    // Nodes by importance: selected, hovered, search hits, groups, then the
    // biggest.
    const rank = (n) => (n.m.id === selNode ? 4 : n.m.id === hoverId ? 3 : this.matches.has(n.m.id) ? 2 : n.m.kind === 'group' ? 1 : 0);
    const allLabels = visible.length <= LABEL_NODES;
    const nodeLabels = visible.filter((n) => allLabels || rank(n) > 0).sort((p, q) => rank(q) - rank(p) || q.r - p.r);
    const nodeLabel = (n) => {
      const s = this.toScreen(n.p.x, n.p.y + Math.max(n.r, 2.5 / k));
      const text = n.m.kind === 'group' ? `${n.m.title} (${n.m.members.length})` : n.m.title;
      label(text.length > 40 ? text.slice(0, 39) + '…' : text, s.x, s.y + 3, c.text,
        (n.m.kind === 'group' ? '600 ' : '') + '12px system-ui, sans-serif', 'top', rank(n) >= 2);
    };
    // The important nodes' names first, then edge figures, then the rest.
    for (const n of nodeLabels) if (rank(n) > 0) nodeLabel(n);
    for (const [e, s, plain] of labelled) {
      if (plain && onScreen > LABEL_EDGES) continue; // too many to read: only highlighted ones
      const text = this.on.onLabel(e.m);
      if (!text) continue;
      const p = this.toScreen((s.x1 + s.x2) / 2, (s.y1 + s.y2) / 2);
      label(text, p.x, p.y, plain ? c.muted : c.text, '11px system-ui, sans-serif', 'middle', !plain);
    }
    for (const n of nodeLabels) if (rank(n) === 0) nodeLabel(n);
  }

  // Text widths, measured once per text and font.
  textWidth(text, font) {
    const key = font + '\u0000' + text;
    let w = this.widths.get(key);
    if (w === undefined) {
      if (this.widths.size > 20000) this.widths.clear();
      this.ctx.font = font;
      w = this.ctx.measureText(text).width;
      this.widths.set(key, w);
    }
    return w;
  }

  // --- input -----------------------------------------------------------------

  bind() {
    const cv = this.canvas;
    let press = null;
    const local = (ev) => {
      const r = cv.getBoundingClientRect();
      return { x: ev.clientX - r.left, y: ev.clientY - r.top };
    };
    cv.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0) return;
      const p = local(ev);
      const h = this.hit(p.x, p.y);
      press = { p, view: { ...this.view }, node: h && h.type === 'node' ? h.id : null, moved: false };
      cv.setPointerCapture(ev.pointerId);
    });
    cv.addEventListener('pointermove', (ev) => {
      const p = local(ev);
      if (press) {
        if (!press.moved && hypot(p.x - press.p.x, p.y - press.p.y) < 4) return;
        press.moved = true;
        this.hideTooltip();
        const n = press.node && this.byId.get(press.node);
        if (n && n.m.kind !== 'group') {
          // Dragging a node pins it where it is dropped.
          const w = this.toWorld(p.x, p.y);
          this.layout.pin(n.m.id, w.x, w.y);
          this.requestDraw();
        } else {
          this.view.x = press.view.x + (p.x - press.p.x);
          this.view.y = press.view.y + (p.y - press.p.y);
          this.touched = true;
          this.anim = null;
          this.requestDraw();
        }
        return;
      }
      const h = this.hit(p.x, p.y);
      if ((h && h.id) !== (this.hover && this.hover.id)) {
        this.hover = h;
        cv.classList.toggle('pointing', !!h);
        this.requestDraw();
      }
      if (h) this.showTooltip(h, p);
      else this.hideTooltip();
    });
    const end = (ev) => {
      if (!press) return;
      const p = local(ev);
      if (!press.moved && ev.type === 'pointerup') {
        this.hideTooltip();
        const h = this.hit(p.x, p.y);
        this.on.onSelect(h, 'pointer');
      }
      press = null;
    };
    cv.addEventListener('pointerup', end);
    cv.addEventListener('pointercancel', end);
    cv.addEventListener('pointerleave', () => {
      this.hideTooltip();
      if (this.hover) {
        this.hover = null;
        this.requestDraw();
      }
    });
    cv.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const p = local(ev);
      // Pixel, line and page deltas all end up as a smooth factor.
      const dy = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaMode === 2 ? ev.deltaY * 400 : ev.deltaY;
      this.zoomAt(p.x, p.y, Math.exp(-dy * 0.0015));
    }, { passive: false });
    cv.addEventListener('dblclick', (ev) => {
      const p = local(ev);
      const h = this.hit(p.x, p.y);
      if (h && h.type === 'node') this.on.onToggleGroup(this.byId.get(h.id).m.group);
    });
    cv.addEventListener('keydown', (ev) => this.key(ev));
  }

  // Keys on the focused map; the list is in index.html's help text.
  key(ev) {
    const step = 60;
    const { w, h } = this.size;
    const handled = {
      ArrowLeft: () => this.panBy(step, 0),
      ArrowRight: () => this.panBy(-step, 0),
      ArrowUp: () => this.panBy(0, step),
      ArrowDown: () => this.panBy(0, -step),
      '+': () => this.zoomAt(w / 2, h / 2, 1.25),
      '=': () => this.zoomAt(w / 2, h / 2, 1.25),
      '-': () => this.zoomAt(w / 2, h / 2, 0.8),
      '0': () => this.fit(),
      ']': () => this.cycle(1),
      '[': () => this.cycle(-1),
      n: () => this.cycle(1),
      p: () => this.cycle(-1),
      Enter: () => this.selected && this.on.onSelect(this.selected, 'key-open'),
      Escape: () => this.on.onSelect(null, 'key'),
      c: () => {
        const n = this.selected && this.selected.type === 'node' && this.byId.get(this.selected.id);
        if (n) this.on.onToggleGroup(n.m.group);
      },
    }[ev.key];
    if (!handled || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    ev.preventDefault();
    handled();
  }

  // Selects the next (or previous) node, left to right, top to bottom by
  // group, and centres it: the map's keyboard way in.
  cycle(dir) {
    if (!this.nodes.length) return;
    const order = [...this.nodes].sort((a, b) => (a.m.group < b.m.group ? -1 : a.m.group > b.m.group ? 1 : a.m.title < b.m.title ? -1 : 1));
    const at = this.selected ? order.findIndex((n) => n.m.id === this.selected.id) : -1;
    const next = order[(at + dir + order.length) % order.length];
    this.on.onSelect({ type: 'node', id: next.m.id }, 'key');
    this.focus(next.m.id);
  }

  showTooltip(item, p) {
    const lines = this.on.onTooltip(item);
    if (!lines) return this.hideTooltip();
    const t = this.tooltip;
    t.replaceChildren(...lines.map((l, i) => {
      const d = document.createElement('div');
      if (i === 0) d.className = 'tt-title';
      d.textContent = l;
      return d;
    }));
    t.hidden = false;
    const x = Math.min(p.x + 14, this.size.w - t.offsetWidth - 4);
    const y = Math.min(p.y + 14, this.size.h - t.offsetHeight - 4);
    t.style.left = Math.max(0, x) + 'px';
    t.style.top = Math.max(0, y) + 'px';
  }

  hideTooltip() {
    this.tooltip.hidden = true;
  }
}

// Screen rectangles taken by labels, in a coarse grid: placing a label
// checks only the cells it covers.
class Labels {
  constructor() {
    this.cells = new Map();
  }

  // Takes the rectangle if it overlaps none taken; whether it did.
  take(x, y, w, h) {
    const C = 64;
    const keys = [];
    for (let cx = Math.floor(x / C); cx <= Math.floor((x + w) / C); cx++) {
      for (let cy = Math.floor(y / C); cy <= Math.floor((y + h) / C); cy++) {
        const key = cx * 65536 + cy;
        for (const r of this.cells.get(key) || []) {
          if (x < r[0] + r[2] && r[0] < x + w && y < r[1] + r[3] && r[1] < y + h) return false;
        }
        keys.push(key);
      }
    }
    const r = [x, y, w, h];
    for (const key of keys) {
      const l = this.cells.get(key);
      if (l) l.push(r);
      else this.cells.set(key, [r]);
    }
    return true;
  }
}
