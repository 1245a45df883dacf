// A grouped force layout, small and linear per tick.
//
// Each group (namespace) gets a disk of its own, placed once and kept: the
// map must not jump when live updates add a node. Inside its disk a node
// feels three forces:
//   - short-range repulsion from nodes nearby, found through a uniform grid
//     (cell = repulsion range), so a tick is O(n + e), not O(n²);
//   - springs along edges within the group (edges between groups are only
//     drawn: pulling groups together would undo the grouping);
//   - a pull towards its group's centre, stronger outside the disk.
// The simulation cools (alpha) and stops when it has settled; `step` runs it
// within a time budget per animation frame, so drawing stays smooth while
// it runs.

import { hash } from './util.js';

// Math.hypot is several times slower than this in V8, and it runs per edge.
const hypot = (x, y) => Math.sqrt(x * x + y * y);

const SPACING = 46; // wanted distance between neighbours (world units)
const REPULSE = SPACING * 1.15; // repulsion range, and the grid's cell size
const SPRING = 0.06;
const GRAVITY = 0.015;
const DECAY = 0.6; // velocity kept per tick
const ALPHA_DECAY = 0.03;
const ALPHA_MIN = 0.02;

// The disk a group of `n` nodes needs at the spacing above.
function groupRadius(n) {
  return SPACING * 0.62 * Math.sqrt(Math.max(1, n)) + 36;
}

export class Layout {
  constructor() {
    this.pos = new Map(); // node id -> {x, y, fixed}: survives model updates
    this.groups = new Map(); // group name -> {x, y, r}
    this.nodes = [];
    this.alpha = 0;
    this.ticks = 0;
  }

  get running() {
    return this.alpha > ALPHA_MIN;
  }

  // Forgets every position: the next model is laid out from scratch.
  reset() {
    this.pos.clear();
    this.groups.clear();
  }

  // Takes a new model (see model.js), keeping the positions of nodes and
  // groups it already had.
  setModel(model) {
    const count = new Map();
    for (const n of model.nodes) count.set(n.group, (count.get(n.group) || 0) + 1);
    this.placeGroups(count);

    let fresh = 0;
    const nodes = [];
    const index = new Map();
    for (const n of model.nodes) {
      const g = this.groups.get(n.group);
      let p = this.pos.get(n.id);
      if (!p) {
        fresh++;
        if (n.kind === 'group') {
          p = { x: g.x, y: g.y, fixed: true };
        } else {
          // A node of a group just expanded, or a new one: a sunflower
          // position in its disk, from a hash of its id (stable).
          const h = hash(n.id);
          const a = (h % 3600) / 3600 * Math.PI * 2;
          const r = g.r * 0.85 * Math.sqrt(((h >>> 12) % 1000) / 1000);
          p = { x: g.x + Math.cos(a) * r, y: g.y + Math.sin(a) * r, fixed: false };
        }
        this.pos.set(n.id, p);
      }
      if (n.kind === 'group') {
        p.x = g.x;
        p.y = g.y;
        p.fixed = true;
      }
      index.set(n.id, nodes.length);
      nodes.push({ id: n.id, group: g, p, vx: 0, vy: 0 });
    }
    // Springs only within a group (see the top of this file).
    const src = [];
    const dst = [];
    for (const e of model.edges) {
      const a = index.get(e.source);
      const b = index.get(e.target);
      if (a !== undefined && b !== undefined && nodes[a].group === nodes[b].group) {
        src.push(a);
        dst.push(b);
      }
    }
    this.nodes = nodes;
    this.src = Int32Array.from(src);
    this.dst = Int32Array.from(dst);
    this.index = index;
    // Reheat: fully when many nodes are new, a little otherwise, so a live
    // update settles its newcomers without shaking the rest.
    const share = nodes.length ? fresh / nodes.length : 0;
    this.alpha = Math.max(this.alpha, share > 0.3 ? 1 : fresh ? 0.4 : 0);
    this.ticks = 0;
  }

  // Groups keep their place; new ones go on a spiral outside the others,
  // and groups that grew push their neighbours away (few groups: O(G²) is
  // fine here, this runs once per model).
  placeGroups(count) {
    const names = [...count.keys()].sort((a, b) => count.get(b) - count.get(a) || (a < b ? -1 : 1));
    for (const name of names) {
      const r = groupRadius(count.get(name));
      const g = this.groups.get(name);
      if (g) {
        g.r = r;
        continue;
      }
      // Golden-angle spiral from the centre outwards: the first free spot.
      const placed = [...this.groups.values()];
      let spot = { x: 0, y: 0 };
      for (let i = 0; i < 20000; i++) {
        const d = 18 * Math.sqrt(i);
        const a = i * 2.399963;
        const c = { x: Math.cos(a) * d, y: Math.sin(a) * d };
        if (placed.every((o) => hypot(o.x - c.x, o.y - c.y) >= o.r + r + 24)) {
          spot = c;
          break;
        }
      }
      this.groups.set(name, { x: spot.x, y: spot.y, r, name });
    }
    const all = [...this.groups.values()].filter((g) => count.has(g.name));
    for (let round = 0; round < 50; round++) {
      let moved = false;
      for (let i = 0; i < all.length; i++) {
        for (let j = i + 1; j < all.length; j++) {
          const a = all[i];
          const b = all[j];
          const dx = b.x - a.x;
          const dy = b.y - a.y;
          const d = hypot(dx, dy) || 1;
          const need = a.r + b.r + 24 - d;
          if (need > 0) {
            moved = true;
            this.shiftGroup(a, (-dx / d) * need / 2, (-dy / d) * need / 2);
            this.shiftGroup(b, (dx / d) * need / 2, (dy / d) * need / 2);
          }
        }
      }
      if (!moved) break;
    }
  }

  // Moves a group's centre and every node laid out in it.
  shiftGroup(g, dx, dy) {
    g.x += dx;
    g.y += dy;
    for (const n of this.nodes) {
      if (n.group === g) {
        n.p.x += dx;
        n.p.y += dy;
      }
    }
  }

  // One tick of the simulation; see the top of this file.
  tick() {
    const nodes = this.nodes;
    const n = nodes.length;
    const alpha = this.alpha;
    // Grid buckets: a Map from cell key to the indices of its nodes.
    const grid = new Map();
    const cell = (v) => Math.floor(v / REPULSE);
    for (let i = 0; i < n; i++) {
      const p = nodes[i].p;
      const k = cell(p.x) * 100003 + cell(p.y);
      const b = grid.get(k);
      if (b) b.push(i);
      else grid.set(k, [i]);
    }
    for (let i = 0; i < n; i++) {
      const a = nodes[i];
      const cx = cell(a.p.x);
      const cy = cell(a.p.y);
      for (let ox = -1; ox <= 1; ox++) {
        for (let oy = -1; oy <= 1; oy++) {
          const b = grid.get((cx + ox) * 100003 + cy + oy);
          if (!b) continue;
          for (const j of b) {
            if (j <= i) continue;
            const o = nodes[j];
            let dx = o.p.x - a.p.x;
            let dy = o.p.y - a.p.y;
            let d2 = dx * dx + dy * dy;
            if (d2 >= REPULSE * REPULSE) continue;
            if (d2 < 0.01) {
              // Same spot: split them in a direction their ids decide.
              dx = ((hash(a.id) % 200) - 100) / 100 || 0.5;
              dy = ((hash(o.id) % 200) - 100) / 100 || 0.5;
              d2 = dx * dx + dy * dy;
            }
            const d = Math.sqrt(d2);
            const f = ((REPULSE - d) / d) * 0.5 * alpha;
            a.vx -= dx * f;
            a.vy -= dy * f;
            o.vx += dx * f;
            o.vy += dy * f;
          }
        }
      }
    }
    const src = this.src;
    const dst = this.dst;
    for (let k = 0; k < src.length; k++) {
      const a = nodes[src[k]];
      const b = nodes[dst[k]];
      const dx = b.p.x - a.p.x;
      const dy = b.p.y - a.p.y;
      const d = Math.sqrt(dx * dx + dy * dy) || 1;
      const f = ((d - SPACING * 1.4) / d) * SPRING * alpha;
      a.vx += dx * f;
      a.vy += dy * f;
      b.vx -= dx * f;
      b.vy -= dy * f;
    }
    let energy = 0;
    for (let i = 0; i < n; i++) {
      const a = nodes[i];
      const g = a.group;
      const dx = g.x - a.p.x;
      const dy = g.y - a.p.y;
      const d = Math.sqrt(dx * dx + dy * dy);
      // Outside its disk a node is pulled back hard.
      const k = d > g.r ? GRAVITY * 8 : GRAVITY;
      a.vx += dx * k * alpha;
      a.vy += dy * k * alpha;
      if (a.p.fixed) {
        a.vx = a.vy = 0;
        continue;
      }
      a.vx *= DECAY;
      a.vy *= DECAY;
      a.p.x += a.vx;
      a.p.y += a.vy;
      energy += a.vx * a.vx + a.vy * a.vy;
    }
    this.alpha += (0 - this.alpha) * ALPHA_DECAY;
    this.ticks++;
    // Settled: nothing moves by more than a fraction of a unit.
    if (n && energy / n < 0.0004) this.alpha = 0;
    if (!n) this.alpha = 0;
  }

  // Runs ticks for up to `budgetMs`; whether it is still running.
  step(budgetMs) {
    const end = performance.now() + budgetMs;
    while (this.running && performance.now() < end) this.tick();
    return this.running;
  }

  // Pins a node where the user dropped it.
  pin(id, x, y) {
    const p = this.pos.get(id);
    if (!p) return;
    p.x = x;
    p.y = y;
    p.fixed = true;
  }
}
