// Data flows one way: no import circle in the project's own code (type imports count: a circle of types
// is still two modules that must change together), and no service imports another service.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

const root = join(import.meta.dirname, "..", "..");
const trees = ["lib", "ingest", "bot", "seedbox", "cli", "web", "stacks", "scripts"];
const services = ["ingest", "bot", "seedbox", "cli", "web"];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of trees.filter((t) => existsSync(join(root, t))).flatMap((t) => sources(join(root, t)))) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    graph.set(file, importedFiles.map((i) => i.fileName).filter((n) => n.startsWith(".")).map((n) => resolve(dirname(file), n)).filter((p) => existsSync(p)));
  }
  return graph;
}

/** Strongly connected components of more than one module (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); c.push(relative(root, w)); } while (w !== v);
      if (c.length > 1) found.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("imports", () => {
  const graph = importGraph();

  it("has no circle", () => {
    assert.ok(graph.size > 100, `read ${graph.size} modules`);
    assert.deepEqual(circles(graph), []);
  });

  it("finds a circle when there is one (the check itself)", () => {
    const g = new Map([["/a", ["/b"]], ["/b", ["/c"]], ["/c", ["/a"]], ["/d", ["/a"]]]);
    assert.equal(circles(g).length, 1);
  });

  it("keeps services apart: no service imports another (they meet in lib/)", () => {
    const serviceOf = (f: string) => services.find((s) => relative(root, f).startsWith(`${s}/`));
    const crossings = [...graph].flatMap(([from, tos]) => tos
      .filter((to) => serviceOf(from) && serviceOf(to) && serviceOf(from) !== serviceOf(to))
      .map((to) => `${relative(root, from)} -> ${relative(root, to)}`));
    assert.deepEqual(crossings, []);
  });
});
